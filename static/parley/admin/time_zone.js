// The admin shows its times in the time zone this browser names (config.middleware.TeammateTimeZoneMiddleware): the
// name goes in a cookie, for the next page (the sign-in page sets it before the first page behind it).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone, named = "parley_tz=" + zone;
    // An IANA name ("America/Argentina/Buenos_Aires", "Etc/GMT+5") is cookie-safe as it is; the server reads it so.
    if (!/^[\w\/+-]+$/.test(zone || "") || document.cookie.split("; ").indexOf(named) >= 0) return;
    var before = /(^|; )parley_tz=/.test(document.cookie);
    document.cookie = named + "; path=/admin/; max-age=31536000; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
    // The browser's zone changed since the cookie named another: this page's times are written in that one, and a save
    // would read them in this one, moving each by the difference (a re-check: signed in in Berlin, the same browser in
    // New York saved a page as it was and moved its times six hours). So it comes again, once, in this zone. Not when
    // the cookie was refused: it would come again for ever.
    if (before && document.cookie.split("; ").indexOf(named) >= 0) location.replace(location.href);
  } catch (e) { /* no Intl time zone: the admin keeps UTC */ }
})();
