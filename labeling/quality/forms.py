"""Forms of the review pages (POST with CSRF)."""

from django import forms

from labeling.quality.models import AnnotatorStatus


class OverrideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("include", "include"), ("exclude", "exclude"), ("", "clear")],
                                 required=False)
    reason = forms.CharField(max_length=2000, required=False)
    next = forms.CharField(max_length=500, required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=AnnotatorStatus.Status.choices)
    reason = forms.CharField(max_length=2000, required=False)


class HoneypotForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=500, initial=20)
