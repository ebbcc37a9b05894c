from django.http import Http404
from django.shortcuts import render

from accounts.decorators import org_member
from catalog.concurrency import busy_message, model_slot
from catalog.forms import PlaygroundForm
from catalog.presentation import annotate_pages
from catalog.registry import BY_SLUG, MODELS
from catalog.services import PlaygroundError, run_model


def _model(slug: str):
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise Http404("No such model.") from None


@org_member("view")
def catalog_list(request):
    return render(request, "catalog/list.html", {"models": MODELS})


@org_member("view")
def model_detail(request, slug: str):
    model = _model(slug)
    initial = {"labels": "invoice: a bill asking for payment\nreceipt: proof of a purchase paid"}
    form = PlaygroundForm(model, initial=initial)
    return render(request, "catalog/detail.html", {"model": model, "form": form})


@org_member("write")
def try_model(request, slug: str):
    """The playground: runs the model on the worker queue and shows its answer."""
    model = _model(slug)
    form = PlaygroundForm(model, request.POST or None, request.FILES or None)
    result, error, status = None, None, 200
    if request.method == "POST" and form.is_valid():
        try:
            with model_slot(request.org) as free:
                if not free:
                    raise PlaygroundError(busy_message(), status=429)
                result = run_model(
                    request.org,
                    slug,
                    text=form.cleaned_data.get("text") or None,
                    upload=form.cleaned_data.get("file"),
                    options=form.options(),
                    with_images=True,
                )
            annotate_pages(result)
        except PlaygroundError as exc:
            error, status = str(exc), exc.status
    elif request.method == "POST":
        status = 400
        # The htmx partial has no form: say what is wrong in the result card instead.
        error = " ".join(str(message) for messages in form.errors.values() for message in messages)
    template = (
        "catalog/_result.html" if request.headers.get("HX-Request") else "catalog/detail.html"
    )
    return render(
        request,
        template,
        {"model": model, "form": form, "result": result, "error": error},
        status=status,
    )
