// The admin shows its times in the time zone this browser names (config.middleware.TeammateTimeZoneMiddleware): the
// name goes in a cookie, for the next page (the sign-in page sets it before the first page behind it).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone, named = "parley_tz=" + zone;
    // An IANA name ("America/Argentina/Buenos_Aires", "Etc/GMT+5") is cookie-safe as it is; the server reads it so.
    if (!/^[\w\/+-]+$/.test(zone || "") || document.cookie.split("; ").indexOf(named) >= 0) return;
    document.cookie = named + "; path=/admin/; max-age=31536000; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
    // This page's times are written in the zone named before (UTC with none), and a save would read them in this one,
    // moving each by the difference (a re-check: the browser's zone changed, and a page saved as it was moved its times
    // by six hours). So it comes again, once, in this zone; the sign-in page shows no time. Not when the cookie was
    // refused: it would come again for ever.
    if (document.cookie.split("; ").indexOf(named) >= 0 && !/\/login\/$/.test(location.pathname)) location.replace(location.href);
  } catch (e) { /* no Intl time zone: the admin keeps UTC */ }
})();
