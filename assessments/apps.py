from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = _("Assessments")

    def ready(self):
        from branches import validators

        validators.guard_fields(self.get_models())  # as branches' own: text a database can keep, dates in range

        from assessments.views import home_section
        from branches import pages

        if home_section not in pages.HOME_SECTIONS:
            pages.HOME_SECTIONS.append(home_section)

        from assessments import summaries as duty_summaries
        from branches import summaries

        # the nightly job and the command rebuild them too
        summaries.also_rebuild(duty_summaries.rebuild, _("duty and finding month summaries"))

        from assessments import backup as assessment_backup
        from branches import backup

        backup.also_export(*assessment_backup.PARTS)  # a subtree's export carries its lists and findings

        from assessments import evidence
        from branches import services

        if evidence.kept_for not in services.EVIDENCE_CHECKS:
            services.EVIDENCE_CHECKS.append(evidence.kept_for)  # evidence of a closed record cannot be deleted
