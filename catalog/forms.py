from django import forms

from catalog.registry import CatalogModel


def parse_labels(raw: str) -> list:
    """One label a line: "invoice" or "invoice: a bill asking for payment"."""
    labels: list = []
    for line in raw.splitlines():
        name, _, description = line.partition(":")
        if name.strip():
            label = {"name": name.strip()}
            if description.strip():
                label["description"] = description.strip()
            labels.append(label)
    return labels


def parse_fields(raw: str) -> list[dict]:
    """One field a line: "po_number | text | purchase order number"."""
    fields = []
    for line in raw.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if parts[0]:
            field = {"name": parts[0], "type": parts[1] if len(parts) > 1 and parts[1] else "text"}
            if len(parts) > 2 and parts[2]:
                field["description"] = parts[2]
            fields.append(field)
    return fields


class PlaygroundForm(forms.Form):
    text = forms.CharField(
        label="Text", required=False, widget=forms.Textarea(attrs={"rows": 8}), max_length=100_000
    )
    file = forms.FileField(label="Or a file", required=False)
    labels = forms.CharField(
        label="Labels",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One a line. Add a description after a colon: invoice: a bill asking for payment",
    )
    threshold = forms.FloatField(
        label="Threshold",
        required=False,
        min_value=0,
        max_value=1,
        help_text="Below this score the answer is 'none'.",
    )
    fields = forms.CharField(
        label="Your own fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional, one a line: name | type | description. Types: text, date, money, "
        "number, email, phone, IBAN.",
    )
    sentences = forms.IntegerField(label="Sentences", required=False, min_value=1, max_value=20)

    def __init__(self, model: CatalogModel, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        if "labels" not in model.options:
            del self.fields["labels"]
            del self.fields["threshold"]
        if "fields" not in model.options:
            del self.fields["fields"]
        if "sentences" not in model.options:
            del self.fields["sentences"]

    def clean(self):
        data = super().clean()
        if bool((data.get("text") or "").strip()) == bool(data.get("file")):
            raise forms.ValidationError("Paste some text or choose a file (one of the two).")
        if "labels" in self.fields and not parse_labels(data.get("labels") or ""):
            self.add_error("labels", "Name at least one label.")
        return data

    def options(self) -> dict:
        data = self.cleaned_data
        options: dict = {}
        if "labels" in self.fields:
            options["labels"] = parse_labels(data["labels"])
            if data.get("threshold") is not None:
                options["threshold"] = data["threshold"]
        if "fields" in self.fields and data.get("fields"):
            options["fields"] = parse_fields(data["fields"])
        if "sentences" in self.fields and data.get("sentences"):
            options["sentences"] = data["sentences"]
        return options
