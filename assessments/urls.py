from django.urls import path

from assessments import views

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
