"""(being built)"""

from django.http import Http404
from django.urls import path


def table_list(request):
    raise Http404


urlpatterns: list = [path("tables/", table_list, name="tables")]
