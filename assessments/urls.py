from django.urls import path

from assessments import views, views_ratings, views_rounds, views_rubrics

app_name = "assessments"

urlpatterns = [
    path("<int:pk>/todo/", views.todo, name="todo"),
    path("<int:pk>/duties/add/", views.item_add, name="item_add"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("<int:pk>/issue/", views.issue, name="issue"),
    path("<int:pk>/templates/", views.templates, name="templates"),
    path("<int:pk>/templates/new/", views.template_edit, name="template_add"),
    path("<int:pk>/templates/<int:template_pk>/", views.template_edit, name="template_edit"),
    path("<int:pk>/inspections/new/", views.inspection_add, name="inspection_add"),
    path("inspections/<int:pk>/", views.inspection_detail, name="inspection"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
    path("<int:pk>/findings/", views.findings_queue, name="findings_queue"),
    path("<int:pk>/three-lists/", views.three_lists, name="three_lists"),
]

urlpatterns += [
    path("rubrics/", views_rubrics.rubric_list, name="rubrics"),
    path("rubrics/new/", views_rubrics.rubric_add, name="rubric_add"),
    path("rubrics/import/", views_rubrics.rubric_import, name="rubric_import"),
    path("rubrics/<int:pk>/", views_rubrics.rubric_detail, name="rubric"),
    path("rubrics/<int:pk>/diff/<int:other>/", views_rubrics.rubric_diff, name="rubric_diff"),
    path("rubrics/<int:pk>/export/", views_rubrics.rubric_export, name="rubric_export"),
    path("rubrics/<int:pk>/preview/", views_rubrics.rubric_preview, name="rubric_preview"),
    path("rubrics/<int:pk>/edit/", views_rubrics.rubric_edit, name="rubric_edit"),
    path("rubrics/<int:pk>/copy/", views_rubrics.rubric_copy, name="rubric_copy"),
    path("rubrics/<int:pk>/new-version/", views_rubrics.rubric_new_version, name="rubric_new_version"),
    path("rubrics/<int:pk>/publish/", views_rubrics.rubric_publish, name="rubric_publish"),
    path("rubrics/<int:pk>/archive/", views_rubrics.rubric_archive, name="rubric_archive"),
    path("rubrics/<int:pk>/delete/", views_rubrics.rubric_delete, name="rubric_delete"),
    path("rubrics/<int:pk>/indicators/add/", views_rubrics.indicator_add, name="indicator_add"),
    path("rubrics/indicators/<int:pk>/edit/", views_rubrics.indicator_edit, name="indicator_edit"),
    path("rubrics/indicators/<int:pk>/move/", views_rubrics.indicator_move, name="indicator_move"),
    path("rubrics/indicators/<int:pk>/delete/", views_rubrics.indicator_delete, name="indicator_delete"),
    path("rubrics/<int:pk>/grades/add/", views_rubrics.band_add, name="band_add"),
    path("rubrics/grades/<int:pk>/edit/", views_rubrics.band_edit, name="band_edit"),
    path("rubrics/grades/<int:pk>/delete/", views_rubrics.band_delete, name="band_delete"),
]

urlpatterns += [
    path("rounds/", views_rounds.round_list, name="rounds"),
    path("<int:pk>/rounds/new/", views_rounds.round_add, name="round_add"),
    path("rounds/<int:pk>/", views_rounds.round_detail, name="round"),
    path("rounds/<int:pk>/ranking/", views_rounds.ranking, name="ranking"),
    path("rounds/<int:pk>/ranking/export/", views_rounds.ranking_export, name="ranking_export"),
    path("rounds/<int:pk>/surveys/", views_rounds.survey_list, name="surveys"),
    path("rounds/<int:pk>/surveys/import/", views_rounds.survey_import, name="survey_import"),
    path("assessments/<int:pk>/", views_rounds.assessment_detail, name="assessment"),
    path("assessments/<int:pk>/report/", views_rounds.assessment_report, name="assessment_report"),
    path("assessments/<int:pk>/self-assessment/", views_rounds.self_assess, name="self_assess"),
    path("assessments/<int:pk>/scoring/", views_rounds.assessor_score, name="assessor_score"),
    path("assessments/<int:pk>/step/<slug:to>/", views_rounds.assessment_step, name="assessment_step"),
    path("assessments/<int:pk>/adjustments/", views_rounds.adjustments_approve, name="adjustments_approve"),
]

urlpatterns += [
    path("rounds/<int:pk>/ratings/", views_ratings.rating_list, name="ratings"),
    path("rounds/<int:pk>/ratings/new/", views_ratings.rating_add, name="rating_add"),
    path("ratings/<int:pk>/", views_ratings.rating_detail, name="rating"),
    path("ratings/<int:pk>/edit/", views_ratings.rating_edit, name="rating_edit"),
    path("ratings/<int:pk>/tickets/", views_ratings.rating_tickets, name="rating_tickets"),
    path("ratings/<int:pk>/close/", views_ratings.rating_close, name="rating_close"),
    path("ratings/<int:pk>/publish/", views_ratings.rating_publish, name="rating_publish"),
    path("ratings/<int:pk>/report/", views_ratings.rating_report, name="rating_report"),
]
