"""(being built)"""

from django.http import Http404
from django.urls import path


def workflow_list(request):
    raise Http404


urlpatterns: list = [path("workflows/", workflow_list, name="workflows")]
