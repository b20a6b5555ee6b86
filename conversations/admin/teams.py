"""Saved replies, teams and teammate profiles: what teammates set up for themselves and each other."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from common.admin_forms import ServiceValidatedForm
from common.parsing import int_or_none
from conversations import services
from conversations.models import SavedReply, Team, TeammateProfile, TeamRoundRobin


class TeammateProfileForm(forms.ModelForm):
    class Meta:
        model = TeammateProfile
        fields = [
            "display_name", "avatar_url", "email_when_away_minutes", "away_mode_enabled", "away_reason",
            "away_mode_reassign", "max_open_conversations",
        ]  # fmt: skip

    def clean_avatar_url(self) -> str:
        avatar = self.cleaned_data["avatar_url"]
        if avatar and not avatar.startswith("https://"):
            raise forms.ValidationError("Use an https:// address, so the messenger can show it on any site.")
        return avatar


@admin.register(TeammateProfile)
class TeammateProfileAdmin(admin.ModelAdmin):
    """Each teammate edits their own profile ("My profile"); superusers see everyone's."""

    form = TeammateProfileForm
    actions = None  # profiles are edited one at a time, by their teammate
    list_display = [
        "teammate", "display_name", "away_mode_enabled", "max_open_conversations", "email_when_away_minutes",
        "last_active_at",
    ]  # fmt: skip
    readonly_fields = ["last_active_at"]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # The key is the user's id: a number beyond the column's range names no profile (not a 500).
        return super().get_object(request, object_id, from_field) if int_or_none(object_id) is not None else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[TeammateProfile]:
        profiles = super().get_queryset(request).select_related("teammate")
        return profiles if request.user.is_superuser else profiles.filter(teammate=request.user)

    def _own_or_superuser(self, request: HttpRequest, obj: TeammateProfile | None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and (obj is None or user.is_superuser or obj.pk == user.pk))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own_or_superuser(request, None)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own_or_superuser(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_superuser and "mine" not in request.GET:
            return super().changelist_view(request, extra_context)
        profile = services.teammate_profile_update(teammate=request.user)  # made on first visit
        return HttpResponseRedirect(reverse("admin:conversations_teammateprofile_change", args=[profile.pk]))

    def save_model(self, request: HttpRequest, obj: TeammateProfile, form: forms.ModelForm, change: bool) -> None:
        services.teammate_profile_update(
            teammate=obj.teammate, **{name: form.cleaned_data[name] for name in form.changed_data}
        )


class SavedReplyForm(ServiceValidatedForm, forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["name", "body"]
        help_texts = {
            "body": "Placeholders: {{contact.name}}, {{contact.first_name}}, {{contact.email}}, {{teammate.name}}"
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.validate_with(lambda: services.saved_reply_validate(name=cleaned.get("name"), body=cleaned.get("body")))
        return cleaned


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    form = SavedReplyForm
    list_display = ["name", "short_body", "created_by", "updated_at"]
    search_fields = ["name", "body"]
    list_select_related = ["created_by"]

    @admin.display(description="Body")
    def short_body(self, reply: SavedReply) -> str:
        return reply.body[:100]

    def save_model(self, request: HttpRequest, obj: SavedReply, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.saved_reply_update(
                saved_reply=SavedReply.objects.get(pk=obj.pk), name=data["name"], body=data["body"]
            )
        else:
            saved = services.saved_reply_create(name=data["name"], body=data["body"], actor=request.user)
        obj.pk = saved.pk


class TeamRoundRobinInline(admin.StackedInline):
    model = TeamRoundRobin
    fields = ["enabled", "last_assignee"]
    readonly_fields = ["last_assignee"]
    can_delete = False
    verbose_name = "round robin"
    verbose_name_plural = "round robin"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    inlines = [TeamRoundRobinInline]
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
