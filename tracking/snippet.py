"""The HTML a website pastes to install the widget (the website admin and the demo page show it)."""

# The one install snippet: the admin shows it for each website, README.md and docs/widget.md show it
# for APP_ID at https://parley.example.com (tests/widget/test_install_snippet.py keeps them equal).
INSTALL_SNIPPET = """<script>
  window.parleySettings = {
    app_id: "%(app_id)s",
    // Signed-in users: add user_id, email, name and user_hash, the hex HMAC-SHA256 of user_id
    // with this website's identity secret, computed on your server (never in the browser).
  };
  (function(w,d){var p=function(){p.q.push(arguments)};p.q=[];w.Parley=w.Parley||p;
  var s=d.createElement("script");s.async=1;s.src="%(base_url)s/widget/%(app_id)s";d.head.appendChild(s)})(window,document);
</script>"""


def install_snippet(*, app_id: str, base_url: str) -> str:
    """The HTML a site pastes before </body>: settings, the queue stub for early calls, the async loader."""
    return INSTALL_SNIPPET % {"app_id": app_id, "base_url": base_url.rstrip("/")}
