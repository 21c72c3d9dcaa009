from rest_framework.routers import SimpleRouter

from branches.api import views

router = SimpleRouter()
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("members", views.MemberViewSet, basename="member")
router.register("meetings", views.MeetingViewSet, basename="meeting")
router.register("compliance", views.ComplianceViewSet, basename="compliance")

urlpatterns = router.urls
