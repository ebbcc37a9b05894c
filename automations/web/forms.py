"""The forms of automations' pages: uploads, the run list's filters, a workflow's export
and name, and a table row's cells."""

from __future__ import annotations

from django import forms
from django.conf import settings

from automations import tables
from automations.models import Run, TableRow, Workflow

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


class RunFilterForm(forms.Form):
    """The run list's filters; every field is optional and a bad value is ignored."""

    workflow = forms.TypedChoiceField(required=False, coerce=str, label="Workflow")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Run.Status.choices], label="Status"
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    tests = forms.BooleanField(required=False, label="Include tests of drafts")

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "All workflows"), ("none", "No workflow (plain reading)")]
        choices += [(str(w.pk), w.name) for w in Workflow.objects.for_org(org).only("pk", "name")]
        self.fields["workflow"].choices = choices

    def filter(self, runs):
        self.is_valid()  # a bad value (a date that is not one) is shown and left out
        data = getattr(self, "cleaned_data", {})
        if not data.get("tests"):
            runs = runs.filter(is_test=False)
        workflow = data.get("workflow")
        if workflow == "none":
            runs = runs.filter(workflow__isnull=True)
        elif workflow:
            runs = runs.filter(workflow_id=int(workflow))
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        if data.get("since"):
            runs = runs.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            runs = runs.filter(created_at__date__lte=data["until"])
        return runs


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("json", "JSON")],
        initial="csv",
        label="Format",
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Pick a date on or after the start date.")
        return data


class RenameForm(forms.Form):
    name = forms.CharField(max_length=120, label="Name")


class RowForm(forms.Form):
    """One text field per column of the table (named c0, c1... : columns are free text)."""

    def __init__(self, columns: list[str], *args, form_id: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        # Inputs sit in the row's cells; the form element is in the last cell.
        attrs = {"form": form_id} if form_id else {}
        for index, column in enumerate(columns):
            self.fields[f"c{index}"] = forms.CharField(
                label=column,
                required=False,
                max_length=tables.MAX_CELL,
                widget=forms.TextInput(attrs=attrs),
            )

    @classmethod
    def for_row(cls, row: TableRow, data=None) -> RowForm:
        columns = row.table.columns
        initial = {f"c{i}": row.values.get(column) or "" for i, column in enumerate(columns)}
        return cls(
            columns, data, initial=initial, prefix=f"r{row.pk}", form_id=f"row-form-{row.pk}"
        )

    def values(self) -> dict[str, str]:
        """The cells the form sent: a column added since the form was opened is kept."""
        return {
            column: self.cleaned_data[f"c{i}"]
            for i, column in enumerate(self.columns)
            if self.add_prefix(f"c{i}") in self.data
        }
