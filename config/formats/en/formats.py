"""One way to write a moment across the admin: Django's own displays (read-only fields, list columns, the `date`
filter without a format) as the conversation page's side panel writes them, "Dec 04, 2026 23:09" (24-hour clock),
instead of English's "Dec. 4, 2026, 11:09 p.m." beside it. What a teammate types is read as before."""

DATE_FORMAT = "M d, Y"
DATETIME_FORMAT = "M d, Y H:i"
TIME_FORMAT = "H:i"
