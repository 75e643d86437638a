from rest_framework.pagination import PageNumberPagination

from common.pagination import CappedCountPaginator


class JobPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    # `count` is exact up to 10,000 jobs; older jobs are reached with `?before=<job id>`.
    django_paginator_class = CappedCountPaginator
