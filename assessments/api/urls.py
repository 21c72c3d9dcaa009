from rest_framework.routers import SimpleRouter

from assessments.api import views

router = SimpleRouter()
router.register("duties", views.DutyViewSet, basename="duty")
router.register("findings", views.FindingViewSet, basename="finding")

urlpatterns = router.urls
