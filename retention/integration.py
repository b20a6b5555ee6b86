"""How the retention app plugs into contacts: the contact page's "Retention" panel and the contact
list's "Past the visitor retention period" choice."""


def connect() -> None:
    from contacts.panels import ContactPanel, LastSeenChoice, register_contact_panel, register_last_seen_choice
    from retention.selectors import contact_expiry_get, retention_policy_get

    # One query (the policy row): when this contact would be deleted by a retention rule.
    register_contact_panel(
        ContactPanel(
            order=90,
            title="Retention",
            template="admin/retention/contact_panel.html",
            rows=lambda contact: contact_expiry_get(contact=contact),
        )
    )
    # The retention policy's own TTL, so "stale" lists exactly who the next expiry run deletes.
    register_last_seen_choice(
        LastSeenChoice(
            value="stale",
            label="Past the visitor retention period",
            days=lambda: retention_policy_get().visitor_ttl_days,
        )
    )
