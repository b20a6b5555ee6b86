"""Saved replies, teams and teammate profiles: what teammates set up for themselves and each other."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from common.admin_forms import ServiceValidatedForm, choices_may_be_deleted
from common.parsing import int_or_none
from common.teammates import PROFILE, CreatedByName, TeammateNamesAdmin, teammate_name, teammate_name_from
from conversations import selectors, services
from conversations.admin.choices import teammate_field, teammates
from conversations.models import SavedReply, Team, TeammateProfile, TeamRoundRobin
from conversations.services.macros import macro_summary
from conversations.services.saved_replies import MacroActions


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
        "teammate", "shown_name", "away_mode_enabled", "away_reason", "max_open_conversations",
        "email_when_away_minutes", "last_active_at",
    ]  # fmt: skip
    readonly_fields = ["last_active_at"]
    search_fields = ["teammate__username", "teammate__first_name", "teammate__last_name", "display_name"]

    @admin.display(description="Name", ordering="display_name")
    def shown_name(self, profile: TeammateProfile) -> str:
        """The name the rest of Parley shows (the display name, else the full name, else the username)."""
        teammate = profile.teammate
        return teammate_name_from(
            display_name=profile.display_name, full_name=teammate.get_full_name(), username=teammate.get_username()
        )

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
            # Every teammate is listed, also one who never logged in: a lead sets their away mode or cap ahead.
            services.teammate_profiles_ensure()
            return super().changelist_view(request, extra_context)
        profile = services.teammate_profile_update(teammate=request.user)  # made on first visit
        return HttpResponseRedirect(reverse("admin:conversations_teammateprofile_change", args=[profile.pk]))

    def save_model(self, request: HttpRequest, obj: TeammateProfile, form: forms.ModelForm, change: bool) -> None:
        services.teammate_profile_update(
            teammate=obj.teammate, **{name: form.cleaned_data[name] for name in form.changed_data}
        )


# How long a macro can snooze for, as the admin offers it (the service takes any whole number of minutes).
MACRO_SNOOZE_CHOICES = [
    ("", "Don't snooze"), (60, "1 hour"), (240, "4 hours"), (24 * 60, "1 day"), (2 * 24 * 60, "2 days"),
    (7 * 24 * 60, "1 week"),
]  # fmt: skip


class SavedReplyForm(ServiceValidatedForm, forms.ModelForm):
    assignee = teammate_field()
    snooze_minutes = forms.TypedChoiceField(
        choices=MACRO_SNOOZE_CHOICES, coerce=int, empty_value=None, required=False, label="Snooze for"
    )

    class Meta:
        model = SavedReply
        fields = ["name", "body", "tags", "priority", "assign", "assignee", "team", "snooze_minutes", "close"]
        help_texts = {
            "body": "Placeholders: {{contact.name}}, {{contact.first_name}}, {{contact.email}}, {{teammate.name}}. "
            'A contact without a name reads "there" in their place, or what you give: '
            '{{contact.first_name | fallback: "friend"}}. A macro may have no text: it then sends no reply.',
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = teammates()
        choices_may_be_deleted(self, "tag", "tags")

    def actions(self) -> MacroActions:
        """The macro's actions as the form holds them (empty ones for a plain saved reply)."""
        data = self.cleaned_data
        return MacroActions(
            tags=tuple(data.get("tags") or ()), assign=data.get("assign") or "", assignee=data.get("assignee"),
            team=data.get("team"), priority=data.get("priority") or "", snooze_minutes=data.get("snooze_minutes"),
            close=bool(data.get("close")),
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self.validate_with(
            lambda: services.saved_reply_validate(
                name=cleaned.get("name"), body=cleaned.get("body"), actions=self.actions()
            )
        )
        return cleaned


@admin.register(SavedReply)
class SavedReplyAdmin(CreatedByName, admin.ModelAdmin):
    """Saved replies, inserted in the composer; with actions they are macros, run in one click."""

    form = SavedReplyForm
    list_display = ["name", "short_body", "macro_actions", "created_by_name", "updated_at"]
    search_fields = ["name", "body"]
    list_select_related = [f"created_by__{PROFILE}", f"assignee__{PROFILE}", "team"]
    autocomplete_fields = ["tags"]
    fieldsets = [
        (None, {"fields": ["name", "body"]}),
        ("Macro: what one click does besides replying", {
            "fields": ["tags", "priority", "assign", "assignee", "team", "snooze_minutes", "close"],
            "description": "Any of these makes the saved reply a macro: on a conversation (or on conversations "
            "selected in the inbox) it sends the reply, then tags, sets the priority, assigns, and snoozes or closes.",
        }),
    ]  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedReply]:
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="Body")
    def short_body(self, reply: SavedReply) -> str:
        return reply.body[:100]

    @admin.display(description="Macro actions")
    def macro_actions(self, reply: SavedReply) -> str:
        return ", ".join(macro_summary(reply, with_reply=False)) or "—"

    def save_model(self, request: HttpRequest, obj: SavedReply, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        actions = form.actions()  # type: ignore[attr-defined]
        if change:
            saved = services.saved_reply_update(
                saved_reply=SavedReply.objects.get(pk=obj.pk), name=data["name"], body=data["body"], actions=actions
            )
        else:
            saved = services.saved_reply_create(
                name=data["name"], body=data["body"], actor=request.user, actions=actions
            )
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # The service saved the tags with the rest; the form's own many-to-many save would write them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class TeamRoundRobinInline(admin.StackedInline):
    model = TeamRoundRobin
    fields = ["enabled", "last_assignee_name"]
    readonly_fields = ["last_assignee_name"]
    can_delete = False
    verbose_name = "round robin"
    verbose_name_plural = "round robin"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TeamRoundRobin]:
        return super().get_queryset(request).select_related(f"last_assignee__{PROFILE}")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        if not self.has_add_permission(request, obj):
            # Django's factory gives a one-to-one inline one form whatever the admin's max_num. A read-only page has
            # no inline (TeamAdmin.get_inlines); this covers a teammate who may change teams but not add this row.
            formset.max_num = formset.extra = 0
        return formset

    @admin.display(description="Last assignee")
    def last_assignee_name(self, round_robin: TeamRoundRobin) -> str:
        return teammate_name(round_robin.last_assignee) if round_robin.last_assignee_id else "—"


@admin.register(Team)
class TeamAdmin(TeammateNamesAdmin, admin.ModelAdmin):
    inlines = [TeamRoundRobinInline]
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    # A read-only page (a viewer's) names the members as the picker and the rest of Parley do (Django's read-only field
    # listed them by login, "admin, dana": a re-check), and says whether the round robin is on (its inline showed a
    # viewer a heading over nothing while the team had no row yet).
    READ_ONLY_FIELDS = ("member_names", "round_robin_state")

    def _read_only(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and not self.has_change_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if not self._read_only(request, obj):
            return fields
        # Django's list holds the read-only fields already (get_readonly_fields): each once, at the end.
        return [*(name for name in fields if name not in ("members", *self.READ_ONLY_FIELDS)), *self.READ_ONLY_FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, *self.READ_ONLY_FIELDS) if self._read_only(request, obj) else readonly

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if self._read_only(request, obj) else super().get_inlines(request, obj)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        team = form.instance
        if not selectors.team_has_answerer(team):
            # Saved as asked (members come and go), but said now: a walk met it only when a rule routed a conversation.
            self.message_user(
                request,
                f"{team.name} has no member who can answer conversations (viewers only read them): what is routed "
                "to it is assigned to nobody until an agent joins it.",
                messages.WARNING,
            )

    @admin.display(description="Members")
    def member_names(self, team: Team) -> str:
        return ", ".join(sorted(teammate_name(member) for member in team.members.select_related(PROFILE))) or "—"

    @admin.display(description="Round robin")
    def round_robin_state(self, team: Team) -> str:
        pointer = TeamRoundRobin.objects.filter(team=team).first()
        # No row yet: on, as the first pick makes it (routing.team_round_robin_pick).
        if pointer is not None and not pointer.enabled:
            return "Off: conversations routed to the team wait for a teammate to take them."
        return "On: conversations routed to the team go to its members in turn."
