// The admin shows its times in the time zone this browser names (config.middleware.TeammateTimeZoneMiddleware): the
// name goes in a cookie, for the next page (the sign-in page sets it before the first page behind it).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // An IANA name ("America/Argentina/Buenos_Aires", "Etc/GMT+5") is cookie-safe as it is; the server reads it so.
    if (!/^[\w\/+-]+$/.test(zone || "") || document.cookie.split("; ").indexOf("parley_tz=" + zone) >= 0) return;
    document.cookie = "parley_tz=" + zone + "; path=/admin/; max-age=31536000; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
  } catch (e) { /* no Intl time zone: the admin keeps UTC */ }
})();
