from django import forms
from django.conf import settings

# A hint for the file picker only: the server decides by content.
ACCEPT = ",".join(
    [".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".docx", ".txt", ".eml", "message/rfc822"]
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if not files:
            raise forms.ValidationError("Choose at least one file.", code="required")
        if len(files) > settings.PYQ_MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(
                f"Upload at most {settings.PYQ_MAX_FILES_PER_UPLOAD} files at a time.",
                code="too_many",
            )
        return files


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Documents",
        widget=MultipleFileInput(attrs={"accept": ACCEPT, "multiple": True}),
        help_text=(
            f"PDF, PNG, JPEG, TIFF, DOCX, TXT or EML, up to {settings.PYQ_MAX_UPLOAD_MB} MB each."
        ),
    )
