"""On PostgreSQL, "everything under X" is one indexed prefix condition on the tree path."""

import pytest
from django.db import connection

from branches import access
from branches.models import Member, Organization


@pytest.mark.postgres
def test_the_subtree_filter_can_use_the_path_index(county, people):
    queryset = access.scoped(people.town_reviewer, Organization.objects.all())
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index" in plan and "path" in plan, plan
    assert set(queryset.values_list("code", flat=True)) == {"T-E", "T-E-1", "T-E-1-G1", "T-E-2"}


@pytest.mark.postgres
def test_a_subtree_of_records_is_one_query_on_postgresql(county, people, django_assert_num_queries):
    with django_assert_num_queries(2):  # the user's grants, then the records
        names = set(access.scoped(people.town_reviewer, Member.objects.all()).values_list("name", flat=True))
    assert names == {"张一", "张二", "张三", "李一"}
