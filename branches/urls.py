from django.urls import path

from branches import views

app_name = "branches"

urlpatterns = [
    path("", views.tree, name="tree"),
    path("<int:pk>/", views.organization_detail, name="organization"),
    path("<int:pk>/children/", views.organization_children, name="children"),
    path("<int:pk>/edit/", views.organization_edit, name="organization_edit"),
    path("<int:pk>/add/", views.organization_add, name="organization_add"),
    path("<int:pk>/move/", views.organization_move, name="organization_move"),
    path("<int:pk>/dissolve/", views.organization_dissolve, name="organization_dissolve"),
    path("<int:pk>/members/", views.member_list, name="members"),
    path("<int:pk>/members/add/", views.member_add, name="member_add"),
    path("members/<int:pk>/", views.member_edit, name="member_edit"),
    path("<int:pk>/cadres/add/", views.cadre_add, name="cadre_add"),
    path("cadres/<int:pk>/", views.cadre_edit, name="cadre_edit"),
    path("<int:pk>/meetings/owed/", views.meetings_owed, name="meetings_owed"),
    path("<int:pk>/meetings/", views.meeting_list, name="meetings"),
    path("<int:pk>/meetings/new/", views.meeting_add, name="meeting_add"),
    path("meetings/<int:pk>/", views.meeting_detail, name="meeting"),
    path("meetings/<int:pk>/edit/", views.meeting_edit, name="meeting_edit"),
    path("meetings/<int:pk>/delete/", views.meeting_delete, name="meeting_delete"),
    path("<int:pk>/compliance/", views.compliance_table, name="compliance"),
    path("<int:pk>/signals/", views.integrity_signals, name="integrity_signals"),
    path("<int:pk>/election/", views.committee_election, name="committee_election"),
    path("<int:pk>/history/", views.organization_history, name="organization_history"),
    path("<int:pk>/security/", views.security_events, name="security_events"),
    path("history/<int:content_type_id>/<str:object_pk>/", views.object_history, name="object_history"),
    path("<int:pk>/attachments/add/", views.attachment_add, name="attachment_add"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("workbook/template/", views.workbook_template, name="workbook_template"),
    path("<int:pk>/workbook/", views.workbook_export, name="workbook_export"),
    path("<int:pk>/import/", views.workbook_import, name="workbook_import"),
    path("imports/<int:pk>/", views.workbook_import_detail, name="workbook_import_detail"),
    path("imports/<int:pk>/apply/", views.workbook_import_apply, name="workbook_import_apply"),
    path("imports/<int:pk>/file/", views.workbook_import_file, name="workbook_import_file"),
    path("attachments/<int:pk>/delete/", views.attachment_delete, name="attachment_delete"),
]
