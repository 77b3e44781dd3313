"""The cohort form: what an instructor sets (lab, window, session length, when a student counts as stuck)."""

from __future__ import annotations

from django import forms

from labs.content_loader import all_labs
from labs.models import Cohort


class CohortForm(forms.ModelForm):
    opens_at = forms.DateTimeField(required=False, label="Opens at",
                                   widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                   input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    closes_at = forms.DateTimeField(required=False, label="Closes at",
                                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])
    session_minutes = forms.IntegerField(required=False, min_value=10, max_value=600, label="Session length (minutes)")
    stuck_minutes = forms.IntegerField(min_value=1, max_value=240, initial=10,
                                       label="Stuck after (minutes without progress)")

    class Meta:
        model = Cohort
        fields = ["name", "lab_slug", "opens_at", "closes_at", "session_minutes", "stuck_minutes"]
        labels = {"lab_slug": "Lab"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lab_slug"] = forms.ChoiceField(label="Lab", choices=[(lab.slug, lab.title) for lab in all_labs()])

    def clean(self):
        data = super().clean()
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and closes <= opens:
            self.add_error("closes_at", "Closes at: must be after the opening time.")
        return data
