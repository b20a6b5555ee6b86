/*! Parley messenger chat panel: loaded by the loader on first open or when a reply is unread. */
(function (w, d) {
  "use strict";
  var P = w.Parley;
  if (!P || !P._panel) return;

  var OPEN_POLL_MS = 4000; // while the panel is open: one small "anything new?" call
  var BADGE_POLL_MS = 60000; // while closed: the unread badge, only when the tab is visible
  var TEAM_ICON = '<svg viewBox="0 0 24 24" width="16" height="16"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg>';
  // …and every few seconds for a while after the visitor wrote: a reply soon after shows its badge soon too.
  var TALK_POLL_MS = 8000, TALK_FOR_MS = 5 * 60000;
  var MAX_BODY = 4000, UPLOAD_STALL_MS = 60000;

  var STRINGS = {
    en: {
      open: "Open messages", title: "Messages", hello: "Hi there!", intro: "Ask us anything. We usually reply within a few hours.",
      start: "Send us a message", placeholder: "Write a message…", send: "Send", close: "Close messages",
      back: "Back to conversations", offline: "You're offline. We'll keep trying.", unreachable: "Can't reach the chat right now. We'll keep trying.", failed: "Not sent.", retry: "Retry",
      you: "You", team: "Team", empty: "No conversations yet.", conversation: "Conversation", unread: "unread", closedTag: "Closed", draft: "Draft", older: "Older conversations",
      error: "Something went wrong. Please try again.", loading: "Loading…", denied: "This chat isn't available right now.",
      reply: "Reply to the team", closed: "This conversation is closed. Write again to reopen it.",
      notSetUp: "Chat isn't set up yet", notSetUpText: "This site hasn't finished setting up its chat, so messages can't be sent from here yet. Please reach the team another way for now.", replyTo: "Reply to ",
      emailAsk: "Get notified by email when the team replies:", emailSend: "Notify me", emailThanks: "Thanks! Our first email to {e} will ask you to confirm it.", emailChange: "Change",
      emailInvalid: "Enter a valid email address.", test: "Test message from the team",
      replies: "The team usually replies {r}.", away: "We're away right now. Back {d} at {h}.", awayAsk: "Leave a message and your email: we'll reply by email.",
      rateAsk: "How would you rate this conversation?", rateOf: "{n} out of 5", rateRemark: "Add a comment (optional)", rateSend: "Send rating",
      rateUpdate: "Update rating", rateThanks: "Thanks! You rated {n}/5.", rateUntil: "You can change it until {h}.", rateFinal: "This rating can no longer be changed.", ratePick: "Choose from 1 to 5 stars.",
      typing: "The team is writing a reply", newBelow: "New message ↓", newsBelow: "{n} new messages ↓", attach: "Attach a file", remove: "Remove ", sending: "Sending… ", waits: "Waiting for the message above.", notAdded: "The file wasn't added: the chat can't be reached right now. Please try again in a moment.", tooBig: " is too large. Files can be at most {m} MB.", badType: " can't be sent here.", tooMany: "At most {m} files per message.",
    },
    fr: {
      open: "Ouvrir les messages", title: "Messages", hello: "Bonjour !", intro: "Posez-nous vos questions. Nous répondons en général en quelques heures.",
      start: "Nous envoyer un message", placeholder: "Écrivez un message…", send: "Envoyer", close: "Fermer les messages",
      back: "Retour aux conversations", offline: "Vous êtes hors ligne. Nouvel essai automatique.", unreachable: "Impossible de joindre le chat pour le moment. Nouvel essai automatique.", failed: "Non envoyé.", retry: "Réessayer",
      you: "Vous", team: "Équipe", empty: "Aucune conversation pour l'instant.", conversation: "Conversation", unread: "non lus", closedTag: "Close", draft: "Brouillon", older: "Conversations plus anciennes",
      error: "Une erreur s'est produite. Veuillez réessayer.", loading: "Chargement…", denied: "Ce chat n'est pas disponible pour le moment.",
      reply: "Répondre à l'équipe", closed: "Cette conversation est close. Écrivez pour la rouvrir.",
      notSetUp: "Le chat n'est pas encore configuré", notSetUpText: "Ce site n'a pas fini de configurer son chat : les messages ne peuvent pas encore être envoyés d'ici. Contactez l'équipe par un autre moyen pour l'instant.", replyTo: "Répondre à ",
      emailAsk: "Recevez la réponse de l'équipe par e-mail :", emailSend: "Me prévenir", emailThanks: "Merci ! Notre premier e-mail à {e} vous demandera de la confirmer.", emailChange: "Modifier",
      emailInvalid: "Saisissez une adresse e-mail valide.", test: "Message de test de l'équipe",
      replies: "L'équipe répond en général {r}.", away: "Nous sommes absents pour le moment. De retour {d} à {h}.", awayAsk: "Laissez un message et votre e-mail : nous vous répondrons par e-mail.",
      rateAsk: "Comment évalueriez-vous cette conversation ?", rateOf: "{n} sur 5", rateRemark: "Ajouter un commentaire (facultatif)", rateSend: "Envoyer la note",
      rateUpdate: "Modifier la note", rateThanks: "Merci ! Vous avez donné {n}/5.", rateUntil: "Vous pouvez la modifier jusqu'à {h}.", rateFinal: "Cette note ne peut plus être modifiée.", ratePick: "Choisissez de 1 à 5 étoiles.",
      typing: "L'équipe vous écrit une réponse", newBelow: "Nouveau message ↓", newsBelow: "{n} nouveaux messages ↓", attach: "Joindre un fichier", remove: "Retirer ", sending: "Envoi… ", waits: "En attente du message ci-dessus.", notAdded: "Le fichier n'a pas été ajouté : le chat est injoignable pour le moment. Réessayez dans un instant.", tooBig: " est trop volumineux. {m} Mo au plus par fichier.", badType: " ne peut pas être envoyé ici.", tooMany: "{m} fichiers au plus par message.",
    },
    de: {
      open: "Nachrichten öffnen", title: "Nachrichten", hello: "Hallo!", intro: "Fragen Sie uns alles. Wir antworten meist innerhalb weniger Stunden.",
      start: "Nachricht senden", placeholder: "Nachricht schreiben…", send: "Senden", close: "Nachrichten schließen",
      back: "Zurück zu den Unterhaltungen", offline: "Sie sind offline. Wir versuchen es weiter.", unreachable: "Der Chat ist gerade nicht erreichbar. Wir versuchen es weiter.", failed: "Nicht gesendet.", retry: "Erneut senden",
      you: "Sie", team: "Team", empty: "Noch keine Unterhaltungen.", conversation: "Unterhaltung", unread: "ungelesen", closedTag: "Geschlossen", draft: "Entwurf", older: "Ältere Unterhaltungen",
      error: "Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.", loading: "Wird geladen…", denied: "Dieser Chat ist gerade nicht verfügbar.",
      reply: "Dem Team antworten", closed: "Diese Unterhaltung ist geschlossen. Schreiben Sie, um sie wieder zu öffnen.",
      notSetUp: "Der Chat ist noch nicht eingerichtet", notSetUpText: "Diese Website hat ihren Chat noch nicht fertig eingerichtet, daher können hier noch keine Nachrichten gesendet werden. Bitte erreichen Sie das Team vorerst auf anderem Weg.", replyTo: "Antworten an ",
      emailAsk: "Per E-Mail benachrichtigt werden, wenn das Team antwortet:", emailSend: "Benachrichtigen", emailThanks: "Danke! Unsere erste E-Mail an {e} bittet Sie um Bestätigung.", emailChange: "Ändern",
      emailInvalid: "Geben Sie eine gültige E-Mail-Adresse ein.", test: "Testnachricht des Teams",
      replies: "Das Team antwortet meist {r}.", away: "Wir sind gerade nicht da. Zurück am {d} um {h}.", awayAsk: "Hinterlassen Sie eine Nachricht und Ihre E-Mail: Wir antworten per E-Mail.",
      rateAsk: "Wie bewerten Sie diese Unterhaltung?", rateOf: "{n} von 5", rateRemark: "Kommentar hinzufügen (optional)", rateSend: "Bewertung senden",
      rateUpdate: "Bewertung ändern", rateThanks: "Danke! Sie haben {n}/5 vergeben.", rateUntil: "Sie können sie bis {h} ändern.", rateFinal: "Diese Bewertung kann nicht mehr geändert werden.", ratePick: "Wählen Sie 1 bis 5 Sterne.",
      typing: "Das Team schreibt Ihnen eine Antwort", newBelow: "Neue Nachricht ↓", newsBelow: "{n} neue Nachrichten ↓", attach: "Datei anhängen", remove: "Entfernen: ", sending: "Wird gesendet… ", waits: "Wartet auf die Nachricht darüber.", notAdded: "Die Datei wurde nicht hinzugefügt: Der Chat ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.", tooBig: " ist zu groß. Höchstens {m} MB pro Datei.", badType: " kann hier nicht gesendet werden.", tooMany: "Höchstens {m} Dateien pro Nachricht.",
    },
  };

  var CSS =
    // The panel and the reply preview above the launcher (.pv) share their place and look.
    ".p,.pv{position:fixed;bottom:88px;right:20px;display:flex;background:#fff;color:#1f2430;border-radius:16px;box-shadow:0 12px 48px rgba(20,25,40,.28);" +
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}.pv{max-width:300px}" +
    ".p{width:376px;height:min(640px,calc(100vh - 110px));flex-direction:column;overflow:hidden;opacity:0;transform:translateY(12px);transition:opacity .16s,transform .16s}" +
    ":host(.left) .p,:host(.left) .pv{right:auto;left:20px}.p.on{opacity:1;transform:none}.p[hidden],.pv[hidden],.ch:empty,.ae:empty{display:none}" +
    "@media (max-width:450px){.p{inset:0;width:auto;height:auto;border-radius:0}}" +
    "@media (prefers-reduced-motion:reduce){.p{transition:none}}" +
    ".hd{display:flex;align-items:center;gap:8px;padding:14px 12px 14px 18px;background:var(--pc,#3d5afe);color:#fff;min-height:36px}" +
    ".hd h2{flex:1;margin:0;font-size:17px;font-weight:650;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    ".ib{border:0;background:none;color:inherit;width:36px;height:36px;border-radius:8px;cursor:pointer;display:flex;align-items:center;justify-content:center;padding:0}" +
    ".ib:hover{background:rgba(255,255,255,.18)}.ib svg{width:20px;height:20px}:host([dir=rtl]) .bk svg,.p[dir=rtl] .bk svg{transform:scaleX(-1)}" +
    "button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #9fb0ff;outline-offset:2px}" +
    ".bd{flex:1;overflow-y:auto;overscroll-behavior:contain;background:#f6f7fb;display:flex;flex-direction:column}" +
    ".in{padding:22px 20px 8px}.in h3{margin:0 0 4px;font-size:22px}.in p{margin:0;color:#5b6275}" +
    ".cta{margin:16px 20px;padding:12px 16px;border:0;border-radius:10px;background:var(--pc,#3d5afe);color:#fff;font-family:inherit;font-weight:600;font-size:15px;line-height:1.2;cursor:pointer;text-align:center}" +
    ".cta:hover{filter:brightness(1.08)}" +
    ".ls{list-style:none;margin:0 12px 16px;padding:0;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.08)}" +
    ".ls li+li{border-top:1px solid #eef0f5}.ls .mo{justify-content:center;color:var(--pc,#3d5afe);font-weight:600}.ls button{display:flex;gap:12px;width:100%;padding:12px 14px;border:0;background:none;text-align:start;cursor:pointer;font:inherit;color:inherit;align-items:center}" +
    ".ls button:hover{background:#f3f5ff}.ls .tx{flex:1;min-width:0}.ls .nm{font-weight:600;font-size:14px}" +
    ".ls .sn{color:#5b6275;font-size:14px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.ls .u .sn{color:#1f2430;font-weight:600}" +
    ".av.ti{background:var(--pc,#3d5afe);color:#fff;display:flex;align-items:center;justify-content:center}" +
    ".st{margin-inline-start:6px;padding:0 6px;border-radius:8px;background:#eef0f5;color:#5b6275;font-size:11px;font-weight:600;vertical-align:1px}.cl .sn{color:#8a90a2}" +
    ".dot{width:9px;height:9px;border-radius:50%;background:#e53935;flex:none}.tm{color:#5b6275;font-size:12px;flex:none}" +
    ".em{color:#8a90a2;text-align:center;margin:8px}" +
    ".th{flex:1;display:flex;flex-direction:column;gap:10px;padding:16px 14px}" +
    ".nw{position:sticky;bottom:10px;align-self:center;margin-top:-36px;border:0;border-radius:17px;padding:8px 16px;" +
    "background:var(--pc,#3d5afe);color:#fff;font:inherit;font-size:13px;cursor:pointer;box-shadow:0 2px 8px rgba(20,25,40,.25)}" +
    ".m{display:flex;gap:8px;align-items:flex-end;max-width:85%}.m.me{align-self:flex-end;flex-direction:row-reverse}" +
    ".av{width:28px;height:28px;border-radius:50%;flex:none;background:#dfe3f3;color:#3b4256;font-weight:700;font-size:12px;line-height:28px;text-align:center;object-fit:cover}" +
    ".bu{padding:9px 13px;border-radius:16px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".bu a{color:inherit;text-decoration:underline}.me .bu{background:var(--pc,#3d5afe);color:#fff}.au{font-size:12px;color:#5b6275;margin:0 4px 2px}" +
    // A message that was not sent: a white bubble with a red dashed edge (its text as readable as ever), and under it
    // what happened and the "Retry" button, each on its own, never squeezed beside the bubble.
    // A message on its way: a little faded until the server has it.
    ".m.pd .bu{opacity:.7}" +
    // When: under the last message of a run by one author (a new run after 5 minutes' quiet).
    ".ts{color:#5b6275;font-size:11px;margin:3px 4px 0}.me .ts{text-align:end}.av.sp{visibility:hidden}" +
    // A teammate writing a reply: three dots in a bubble, pulsing (still for those who ask for less motion).
    ".ty .bu{display:flex;gap:4px;padding:13px 14px}.ty i{width:7px;height:7px;border-radius:50%;background:#8a90a2;animation:ty 1.2s infinite}" +
    ".ty i:nth-child(2){animation-delay:.2s}.ty i:nth-child(3){animation-delay:.4s}@keyframes ty{30%{opacity:.3}}" +
    "@media (prefers-reduced-motion:reduce){.ty i{animation:none}}" +
    ".m.fail>div{display:flex;flex-direction:column;align-items:flex-end}.m.fail .bu{background:#fff;color:#1f2430;box-shadow:none;border:1px dashed #c62828}" +
    ".nf.wt{color:#5b6275}.nf{display:flex;flex-wrap:wrap;align-items:center;justify-content:flex-end;gap:6px 10px;margin:6px 2px 0;color:#b71c1c;font-size:13px;line-height:1.35;text-align:end}" +
    ".fl{border:1px solid currentColor;border-radius:16px;background:#fff;color:inherit;font-family:inherit;font-size:13px;font-weight:600;line-height:1;padding:7px 14px;cursor:pointer}" +
    ".fl:hover{background:#fdecea}@media (max-width:450px){.fl{padding:10px 18px}}" +
    ".nt{margin:0 14px 10px;color:#5b6275;font-size:13px;text-align:center}.nt button{border:0;padding:0;background:none;color:var(--pc,#3d5afe);font:inherit;text-decoration:underline;cursor:pointer}" +
    ".of{background:#fff4e5;color:#7a4b00;padding:8px 14px;font-size:13px}" +
    ".cp{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid #e6e8f0;background:#fff}" +
    ".cp textarea{flex:1;resize:none;border:1px solid #d5d9e6;border-radius:10px;padding:9px 11px;font:inherit;max-height:120px;min-height:40px;box-sizing:border-box;color:inherit;background:#fff}" +
    ".sd{border:0;border-radius:10px;background:var(--pc,#3d5afe);color:#fff;height:40px;padding:0 14px;font-family:inherit;font-weight:600;font-size:14px;cursor:pointer}" +
    ".l{position:relative}.l .x{display:none;color:#fff}.l .x svg{width:26px;height:26px;display:block}" +
    ".l[aria-expanded=true]>svg{display:none}.l[aria-expanded=true] .x{display:block}" +
    ".pv .ib{flex:none}" +
    ".pt{border:0;background:none;text-align:start;padding:10px 0 10px 14px;cursor:pointer;font:inherit;color:inherit;min-width:0;overflow-wrap:anywhere}" +
    ".pt span{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:12px;padding:0 3px;border-radius:10px;background:#e53935;" +
    "color:#fff;font:700 11px/16px system-ui,sans-serif;text-align:center;border:2px solid #fff}" +
    ".ask{padding:10px 12px;background:#fff;border-radius:12px;box-shadow:0 1px 2px rgba(0,0,0,.08);font-size:14px}" +
    ".ask .rw{display:flex;gap:6px;margin-top:8px}.ask input{flex:1;min-width:0;border:1px solid #d5d9e6;border-radius:8px;padding:7px 9px;font:inherit}" +
    ".ask p{margin:0}.ask .er{color:#c62828;font-size:12px;margin-top:4px}" +
    ".ns{margin:auto 0;padding:24px 28px;text-align:center;color:#5b6275}.ns h3{margin:0 0 6px;font-size:17px;color:#1f2430}.ns p{margin:0}" +
    ".tt{align-self:center;margin:0;padding:2px 10px;border-radius:10px;background:#fff4e5;color:#7a4b00;font-size:12px;font-weight:600}" +
    ".sd:disabled{opacity:.5;cursor:default}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    ".rt textarea{width:100%;box-sizing:border-box;margin-top:8px;border:1px solid #d5d9e6;border-radius:8px;padding:7px 9px;font:inherit;resize:vertical}" +
    ".rt fieldset{border:0;margin:6px 0 0;padding:0}.sa{position:relative;font-size:26px;line-height:1;color:#c9ced6;cursor:pointer;padding:0 2px;border-radius:6px}" +
    ".sa.on{color:#e3a008}.sa:focus-within{outline:3px solid #9fb0ff}.rt .nt{margin:6px 0 0;text-align:start}" +
    ".pc{border:0;background:none;color:#5b6275;width:36px;height:40px;border-radius:8px;cursor:pointer;padding:0}.pc:hover{background:#eef0f5}.pc svg{width:22px;height:22px}" +
    ".fs{display:flex;flex-direction:column;gap:4px;margin-top:4px}.fs img{display:block;max-width:220px;max-height:220px;border-radius:10px}.fs img.ld{min-width:160px;min-height:120px;object-fit:cover;background:#8882}" +
    ".fs .f{display:block;padding:7px 10px;border-radius:10px;background:#fff;color:#1f2430;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-wrap:anywhere;font-size:14px}" +
    ".fi{display:flex;flex-direction:column;gap:4px;max-width:220px}.me .fs{align-items:flex-end}" +
    ".ch{display:flex;flex-wrap:wrap;gap:6px;padding:8px 12px 0;background:#fff}.ch span{background:#eef0f5;border-radius:8px;padding:2px 4px 2px 8px;font-size:13px;" +
    "display:inline-flex;align-items:center;gap:6px}.ch img{width:40px;height:40px;object-fit:cover;border-radius:6px;display:block}" +
    ".ch button{border:0;background:none;cursor:pointer;color:#5b6275;font:inherit}.ae{color:#c62828;font-size:13px;padding:4px 12px 0;background:#fff}" +
    ".pg{width:100%;height:4px;margin-top:4px}.p.dz .bd{outline:3px dashed var(--pc,#3d5afe);outline-offset:-6px}";

  var X = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>';
  var CLIP = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z"/></svg>';
  var BACK = '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z"/></svg>';

  function h(tag, attrs, kids) {
    var el = d.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") el.textContent = attrs[k];
      else if (k === "html") el.innerHTML = attrs[k]; // only our own constant SVG icons
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== false) el.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) el.appendChild(c); });
    return el;
  }
  // A message's web addresses open in a new tab; everything else stays text (nothing in a message is read as HTML).
  // An http(s) address, or one written from "www." (opened as https://); static/parley/admin/thread.js links alike.
  function linked(text) {
    var out = [], re = /\b(?:https?:\/\/|www\.(?=[a-z0-9-]+\.[a-z]))[^\s<>"]+/gi, at = 0, m, url;
    while ((m = re.exec(text))) {
      if (text.charAt(m.index - 1) == "@") continue; // me@www.shop.example is an email address
      url = m[0].replace(/[.,;:!?'")\]]+$/, ""); // the sentence's punctuation after it is not the address's
      out.push(d.createTextNode(text.slice(at, m.index)), h("a", { href: (/^w/i.test(url) ? "https://" : "") + url, target: "_blank", rel: "noopener noreferrer nofollow", text: url }));
      re.lastIndex = at = m.index + url.length;
    }
    out.push(d.createTextNode(text.slice(at)));
    return out;
  }
  function initials(name) {
    // "Ada Lovelace" AL, "Mary Ann Smith" MS; a longer display name ("Sam from Demo shop") its first letter.
    var words = String(name || "?").split(/\s+/).filter(Boolean);
    var picked = words.length > 3 ? words.slice(0, 1) : words.length > 1 ? [words[0], words[words.length - 1]] : words;
    return picked.map(function (x) { return x[0]; }).join("").toUpperCase();
  }

  P._panel(function (ctx) {
    // Live view of the loader's state: ctx.get() is [token, anon, settings, conversations, host, launcher, ready].
    var s = { conversations: ctx.get()[3] };
    ["token", "anon", "settings", "", "host", "launcher"].forEach(function (name, i) {
      if (name) Object.defineProperty(s, name, { get: function () { return ctx.get()[i]; } });
    });
    var lang = ctx.lang();
    var t = STRINGS[lang] || STRINGS.en;
    var root = s.host.shadowRoot;
    var sheet;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = root.adoptedStyleSheets.concat([sheet]);
    } catch (e) {
      root.appendChild(h("style", { text: CSS }));
    }
    var html = d.documentElement;
    var rtl = (html.getAttribute("dir") || d.body.getAttribute("dir") || "").toLowerCase() === "rtl" ||
      /^(ar|he|fa|ur)/i.test(String(s.settings.language_override || ""));

    var title = h("h2", { id: "pt", text: t.title });
    var backBtn = h("button", { class: "ib bk", type: "button", "aria-label": t.back, html: BACK, hidden: true, onclick: function () { showList(); } });
    var closeBtn = h("button", { class: "ib", type: "button", "aria-label": t.close, html: X, onclick: function () { close(); } });
    var offline = h("div", { class: "of", role: "status", hidden: true, text: t.offline });
    // Pinned: the thread shows its newest message and keeps it in view as it grows (a photo takes its height when
    // its first bytes come, a notice is added); only the visitor's scrolling up unpins it, and scrolling back to the
    // bottom pins it again. A scroll event while it grows is not the visitor's: its scrollTop did not go up.
    // A message that comes while the visitor reads further up does not take them away: a button below says it came.
    // The scrolled body shrinks too (the banner saying Parley is out of reach, a phone's keyboard): the thread follows.
    var pinned = true, lastTop = 0;
    var body = h("div", { class: "bd", onscroll: function () {
      pinned = atBottom() || (pinned && body.scrollTop >= lastTop);
      lastTop = body.scrollTop;
      if (pinned) below.hidden = true;
    } });
    var below = h("button", { class: "nw", type: "button", hidden: true, text: t.newBelow, onclick: function () {
      var keyed; // by the keyboard: its focus goes on to the composer, not to the page as the button hides
      try { keyed = below.matches(":focus-visible"); } catch (e) { /* an older browser */ }
      toEnd();
      if (keyed && composer) composer.focus();
    } });
    function atBottom() { return body.scrollHeight - body.scrollTop - body.clientHeight < 60; }
    function toEnd() { pinned = true; below.hidden = true; body.scrollTop = body.scrollHeight; }
    // The button says how many came while the visitor read further up ("3 new messages ↓").
    var unseen = 0;
    function cameBelow(n) {
      unseen = below.hidden ? n : unseen + n;
      below.textContent = unseen > 1 ? t.newsBelow.replace("{n}", unseen) : t.newBelow;
      below.hidden = false;
    }
    function keepPinned() { if (pinned && view === "thread") body.scrollTop = body.scrollHeight; }
    var growing = typeof ResizeObserver === "function" ? new ResizeObserver(keepPinned) : null;
    var live = h("div", { class: "sr", "aria-live": "polite" });
    var panel = h("div", {
      class: "p", role: "dialog", "aria-modal": "true", "aria-labelledby": "pt", hidden: true, dir: rtl ? "rtl" : "ltr", lang: lang,
    }, [h("div", { class: "hd" }, [backBtn, title, closeBtn]), offline, body, live]);
    root.appendChild(panel);

    var open = false, view = null, current = null, cursor = null, timer = null, lastFocus = null, destroyed = false;
    // When the visitor's last message reached Parley; or when a page learnt that a reply to it is awaited.
    var wroteAt = 0;
    // Each list the server sent is read once: the loader hands the same one again with answers that carry none.
    var heard = null;
    function awaited(list) {
      if (!list || list === heard) return;
      heard = list;
      if (list.some(function (c) { return c.awaiting; })) wroteAt = Date.now();
    }
    awaited(s.conversations);
    var failures = 0, notSetUp = false, autoOpened = false;
    var refusedPolls = 0; // polls in a row refused (429) or failed in Parley (500, 501): they back off as unheard ones do

    // The loader's ping failed without a status (parley.js). An opaque request to the same API (`base`, its
    // /widget-api/) fails only when that cannot be reached: when it comes back, Parley refused this site's origin. Say
    // so, once, in the console for the site owner and in the panel for the visitor (not "offline": retrying won't
    // help). Not Parley's /healthz: a proxy or a blocker that stops only the API left it answering, and the visitor
    // was told "not set up" for an outage.
    var probing = null; // the probe under way: a failure meanwhile waits for it before saying "can't reach"
    function probe(base, err) {
      if (!(err instanceof TypeError)) return; // a time-out: Parley is slow, not refusing this site
      probing = fetch(base + "/widget-api/" + ctx.get()[7] + "/ping", { mode: "no-cors", credentials: "omit" }).then(function () {
        if (notSetUp) return;
        notSetUp = true;
        offline.hidden = true;
        console.warn("Parley: this site's origin (" + w.location.origin + ") is not in the allowed origins of its Parley website; add it in Parley's admin under Websites.");
        if (open) showNotSetUp();
      }, noop);
    }
    // Parley answers after all (its outage's 503 or a proxy's page had come without CORS headers): not a refusal.
    function setUpAfterAll() {
      if (!notSetUp) return;
      notSetUp = false;
      if (open && view === "blocked") showList();
    }
    function showNotSetUp() {
      setView("blocked", t.title);
      body.appendChild(h("div", { class: "ns", role: "status" }, [h("h3", { text: t.notSetUp }), h("p", { text: t.notSetUpText })]));
    }

    // `quiet`: a read whose failure says nothing of Parley to the visitor (the office hours: the greeting has its
    // fallback), so it neither shows the banner nor, answered later, counts as Parley being back.
    function api(path, payload, quiet) {
      // No automatic retry here: polls back off on their own and a failed send offers "retry".
      return ctx.api(path, payload, 0).then(function (json) {
        var back = failures > 0;
        failures = 0;
        setUpAfterAll();
        offline.hidden = true;
        if (back) backOnline(); // Parley answers again
        else resendFailed(); // those whose back-off has passed (an endpoint failing alone)
        return json || {};
      }, function (err) {
        var status = err.status || 0; // a Response (HTTP error) or a network error / time-out
        if (unheard(status) && !quiet) {
          failures++;
          // Only the browser knows the visitor is offline; otherwise it is Parley that cannot be reached. A refused
          // origin fails the same way: nothing is said until the loader's ping has settled and, when it failed too,
          // its probe told the two apart (the ping's failure starts the probe before the ping settles).
          Promise.resolve(ctx.get()[6]).then(function () { return probing; }).then(function () {
            if (notSetUp || failures === 0) return;
            offline.textContent = w.navigator.onLine === false ? t.offline : t.unreachable;
            offline.hidden = false;
          });
        }
        // A refusal's JSON names its field and says why in the visitor's terms: kept for the message it refused.
        return (status && err.json ? err.json() : Promise.reject()).then(function (json) { return json.error || {}; }, function () { return {}; }).then(function (e) {
          throw { status: status, message: e.message, field: e.field };
        });
      });
    }
    // No word from Parley itself: the browser's network error or time-out, or a gateway's (or Parley's outage) 502-504.
    // The banner says the chat cannot be reached, and what failed goes again by itself once Parley answers.
    function unheard(status) { return !status || (status > 501 && status < 505); }
    function q(path) { return path + (path.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(s.token || ""); }

    // --- views --------------------------------------------------------------------------------
    function setView(name, heading) {
      view = name;
      title.textContent = heading;
      backBtn.hidden = name !== "thread";
      body.textContent = "";
      if (growing) growing.disconnect(); // the thread left (its removal is a resize too): the next view keeps its scroll
      var cp = panel.querySelector(".cp");
      if (cp) { cp.remove(); files.chips.remove(); files.error.remove(); }
    }

    // Office hours: "usually replies in 4 minutes" inside them, "back Monday at 09:00" outside (one cached GET per panel).
    var avail = null, availAsked = false;
    function intro() {
      if (!avail) return t.intro;
      if (!avail.open && avail.back_at) {
        var at = new Date(avail.back_at), day, hour;
        try {
          day = at.toDateString() === new Date().toDateString() ? "" : at.toLocaleDateString(lang, { weekday: "long" });
          // The visitor's own clock, named ("08:00 AM GMT+1"): the team's hours are in another zone, perhaps.
          hour = at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
        } catch (e) { return t.awayAsk; }
        return t.away.replace(" {d}", day ? " " + day : "").replace("{h}", hour) + " " + t.awayAsk;
      }
      if (avail.open && avail.reply_seconds != null) {
        var m = Math.max(1, Math.round(avail.reply_seconds / 60)), r;
        try {
          var f = new Intl.RelativeTimeFormat(lang, { numeric: "always" });
          r = m < 90 ? f.format(m, "minute") : m < 2160 ? f.format(Math.round(m / 60), "hour") : f.format(Math.round(m / 1440), "day");
        } catch (e) { return t.intro; }
        return t.replies.replace("{r}", r);
      }
      return t.intro;
    }
    function askAvailability() {
      if (availAsked) return;
      availAsked = true;
      api("availability", undefined, true).then(function (json) {
        avail = json;
        var p = body.querySelector(".in p, .gr .bu");
        if (p) p.textContent = p.parentNode.className === "in" ? intro() : t.hello + " " + intro();
      }, function () { availAsked = false; });
    }

    // `toUnread`: opened on a badge the list it has not heard of yet (a reply seen by the loader's poll): once the
    // list comes, a single conversation with unread replies opens, as it does when the list knew.
    function showList(toUnread) {
      leave();
      askAvailability();
      current = null;
      setView("list", t.title);
      body.appendChild(h("div", { class: "in" }, [h("h3", { text: t.hello }), h("p", { text: intro() })]));
      body.appendChild(h("button", { class: "cta", type: "button", onclick: function () { showThread(null); } }, [
        d.createTextNode(t.start), drafts()["new"] ? h("span", { class: "st", text: t.draft }) : null]));
      body.appendChild(listed());
      if (s.token) fetchList().then(function (got) {
        var old = got && view === "list" && body.querySelector(".ls,.em");
        var unread = old && toUnread ? s.conversations.filter(function (c) { return c.unread; }) : [];
        if (old && unread.length === 1) showThread(unread[0].id);
        else if (old) body.replaceChild(listed(), old);
      }).catch(noop);
    }
    // The visitor's conversations and kept messages, fresh: true when they came for the visitor who asked.
    function fetchList() {
      var asked = epoch;
      return api(q("conversations")).then(function (json) {
        if (asked !== epoch || !json.conversations) return false;
        // The older ones shown stay (a walk: a reply elsewhere collapsed the list under the visitor's eyes): those the
        // newest 20 pushed out join them, those come up among the 20 leave them. A change moves a conversation to the
        // top, so the rest keep their order.
        var now = json.conversations;
        older = older.length ? (s.conversations || []).concat(older).filter(function (c) { return !now.some(function (n) { return n.id === c.id; }); }) : [];
        more = older.length ? more : !!json.more;
        s.conversations = now;
        unanswered = json.messages_kept || [];
        peek();
        return true;
      });
    }
    // The list goes on past its newest 20 (older conversations, an unread reply in one too): loaded on demand.
    var older = [], more = false;
    function loadOlder(button) {
      var shown = s.conversations, all = shown.concat(older), asked = epoch; // (listed: the button needs one)
      button.disabled = true;
      api(q("conversations") + "&before=" + encodeURIComponent(all[all.length - 1].id)).then(function (json) {
        if (asked !== epoch) return;
        // The newest 20 came again meanwhile (a re-check: a change while this page was on its way lost the one it
        // pushed out, or listed one twice): from the list's new end. What is listed by now is left out.
        if (shown !== s.conversations) return loadOlder(button);
        all = shown.concat(older);
        older = older.concat(json.conversations.filter(function (c) { return !all.some(function (n) { return n.id === c.id; }); }));
        more = !!json.more;
        var old = view === "list" && body.querySelector(".ls");
        if (old) body.replaceChild(listed(), old);
      }, function (err) {
        button.disabled = false;
        if (err && err.field === "before" && view === "list") showList(); // the last one listed is gone: from the top
      });
    }
    // In-app messages shown on an earlier page and not answered (the server keeps them a month): listed first, to
    // answer now; an answer makes a conversation, listed instead.
    var unanswered = [];
    function listed() {
      var convs = s.conversations || [];
      if (!convs.length && !unanswered.length) return h("p", { class: "em", text: t.empty });
      var rows = unanswered.map(messageRow).concat(convs.concat(older).map(row));
      if (more && convs.length) rows.push(h("li", {}, [h("button", { class: "mo", type: "button", text: t.older, onclick: function () { loadOlder(this); } })]));
      return h("ul", { class: "ls", "aria-label": t.title }, rows);
    }
    function messageRow(m) {
      var who = m.author_name || t.team;
      return h("li", {}, [h("button", { type: "button", "aria-label": who + ": " + m.body, onclick: function () { showMessage(m); } }, [
        avatar(m),
        h("div", { class: "tx" }, [h("div", { class: "nm", text: who }), h("div", { class: "sn", dir: "auto", text: m.body })]),
        h("span", { class: "tm", text: when(m.created_at) }),
      ])]);
    }
    function row(c) {
      var last = c.last_part || {};
      var who = last.author_type === "teammate" ? last.author_name || t.team : t.you;
      var closed = c.state === "closed", drafted = !!drafts()[c.id]; // words written there and not sent yet
      var label = who + ": " + (last.body || "") + (c.unread ? " (" + c.unread + " " + t.unread + ")" : "") + (closed ? " (" + t.closedTag + ")" : "") + (drafted ? " (" + t.draft + ")" : "");
      return h("li", { class: (c.unread ? "u" : "") + (closed ? " cl" : "") || null }, [h("button", { type: "button", "aria-label": label, onclick: function () { showThread(c.id); } }, [
        avatar(last.author_type === "teammate" ? last : null),
        h("div", { class: "tx" }, [
          h("div", { class: "nm" }, [d.createTextNode(who), closed ? h("span", { class: "st", text: t.closedTag }) : null,
            drafted ? h("span", { class: "st", text: t.draft }) : null]),
          h("div", { class: "sn", dir: "auto", text: last.body || "" })]),
        h("span", { class: "tm", text: when(last.created_at || c.updated_at) }),
        c.unread ? h("span", { class: "dot", "aria-hidden": "true" }) : null,
      ])]);
    }
    function avatar(part) {
      var letters = h("span", { class: "av", "aria-hidden": "true", text: part ? initials(part.author_name || t.team) : initials(t.you) });
      if (part && /^https?:\/\//.test(part.author_avatar || "")) {
        // An image that fails to load gives way to the initials, never a broken-image icon.
        return h("img", { class: "av", src: part.author_avatar, alt: "", onerror: function () { this.replaceWith(letters); } });
      }
      return letters;
    }
    // Dates and times in the visitor's own conventions: their browser's locale of the messenger's language (en-GB:
    // 23:10, not 11:10 PM), else their browser's first, else the messenger's language.
    var nav = w.navigator || {}, locales = [].concat(nav.languages || [], nav.language || []);
    var timeLocale = locales.filter(function (l) { return String(l).split("-")[0].toLowerCase() === lang; })[0] || locales[0] || lang;
    // Hours as they write them: 00:23 on a 24-hour clock, 8:10 PM (no leading zero) on a 12-hour one.
    var hourForm = "numeric";
    try { if (/h2[34]/.test(new Intl.DateTimeFormat(timeLocale, { hour: "numeric" }).resolvedOptions().hourCycle)) hourForm = "2-digit"; } catch (e) { /* the default */ }
    // `withTime`: a day before today gets its time too (a message's; a list's row shows the day only); another
    // year's, its year.
    function when(iso, withTime) {
      var at = iso ? new Date(iso) : null, now = new Date();
      if (!at || isNaN(at)) return "";
      var hm = { hour: hourForm, minute: "2-digit" }, day = { day: "numeric", month: "short" };
      if (at.getFullYear() !== now.getFullYear()) day.year = "numeric";
      if (withTime) { day.hour = hm.hour; day.minute = hm.minute; }
      var format = at.toDateString() === now.toDateString() ? hm : day;
      try { return at.toLocaleString(timeLocale, format); } catch (e) {
        try { return at.toLocaleString(lang, format); } catch (e2) { return ""; }
      }
    }

    var thread, composer, sendBtn, talk = null;
    // `draft`: words for its composer, after those kept for this thread (drafts); none for an in-app message's.
    function showThread(id, draft, forMessage) {
      leave();
      askAvailability();
      current = id ? { id: id, parts: [] } : null;
      inApp = null;
      var waiting = unsentOf(id);
      talk = !id && waiting.length ? waiting[0].talk : { conv: current, inApp: null };
      setView("thread", id ? t.conversation : t.start);
      thread = h("div", { class: "th", role: "log", "aria-label": t.conversation });
      if (growing) { growing.disconnect(); growing.observe(thread); growing.observe(body); }
      composer = h("textarea", { rows: "1", placeholder: t.placeholder, "aria-label": id ? t.reply : t.placeholder, maxlength: String(MAX_BODY) });
      composer.value = draft || "";
      if (!forMessage) restore(composer, id);
      composer.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); }
      });
      composer.addEventListener("input", function () { fit(); wrote(); });
      sendBtn = h("button", { class: "sd", type: "button", text: t.send, onclick: function () { send(); } });
      body.appendChild(thread);
      body.appendChild(below);
      toEnd(); // a thread opens at its newest message
      files.reset();
      composer.addEventListener("paste", function (ev) { if (files.add(ev.clipboardData && ev.clipboardData.files)) ev.preventDefault(); });
      panel.insertBefore(files.chips, live);
      panel.insertBefore(files.error, live);
      panel.insertBefore(h("div", { class: "cp" }, [files.button(), composer, sendBtn]), live);
      if (composer.value) fit(); // the site's words (showNewMessage) as tall as they need
      if (id) thread.appendChild(h("p", { class: "em", text: t.loading }));
      else thread.appendChild(greeting());
      waiting.forEach(function (node) { thread.appendChild(node); });
      if (id) loadThread();
      else unpark();
      if (open && !autoOpened) composer.focus();
    }
    // The visitor writing in a thread: the team sees "… is typing". A poll says so after a key within a poll's time
    // while the box holds text (erased: it ends at the mark's end); the first key after a quiet spell polls at once,
    // unless Parley is unreachable (a poll answered then would send again what failed, sooner than its back-off).
    var keyAt = 0;
    function wrote() {
      if (Date.now() - keyAt > OPEN_POLL_MS && current && !failures) setTimeout(poll);
      keyAt = Date.now();
    }
    function fit() { composer.style.height = "auto"; composer.style.height = Math.min(composer.scrollHeight, 120) + "px"; }

    // An in-app message from a teammate: shown as their message with a composer; seen once shown,
    // and an answer opens a conversation that starts with it.
    var inApp = null;
    function showMessage(message) {
      showThread(null, "", true);
      inApp = message;
      talk = { conv: null, inApp: message };
      title.textContent = message.author_name || t.team;
      composer.setAttribute("aria-label", t.replyTo + (message.author_name || t.team));
      thread.textContent = "";
      // A teammate's test of a message before sending it: said so, above the message.
      if (message.test) thread.appendChild(h("p", { class: "tt", role: "note", text: t.test }));
      thread.appendChild(bubble(message.body, false, message));
      api("messages/" + encodeURIComponent(message.id) + "/seen", { token: s.token }).then(function (json) {
        ctx.setUnread(json.unread_count);
      }).catch(noop);
    }
    function checkMessages() {
      if (!s.token || notSetUp || open) return;
      var asked = epoch;
      api(q("messages")).then(function (json) {
        if (asked !== epoch) return; // asked as a visitor who is gone since
        var waiting = json.messages || [];
        unanswered = json.messages_kept || [];
        if (waiting.length && !open) openPanel("message", waiting[0]);
        // Opened meanwhile on a new thread the visitor has not written in yet: the message not shown yet instead, else
        // the list where those shown and not answered wait.
        else if (open && view === "thread" && !current && !inApp && !composer.value.trim() && !files.count() && !unsentOf(null).length) {
          if (waiting.length) showMessage(waiting[0]);
          else if (unanswered.length) showList();
        }
      }).catch(noop);
    }

    function loadThread() {
      if (!current) return Promise.resolve();
      var id = current.id;
      return api(q("conversations/" + encodeURIComponent(id))).then(function (json) {
        if (!current || current.id !== id || !json.conversation) return;
        current = json.conversation;
        renderParts();
        if (current.unread) markRead();
      }, function (err) {
        if (err.status === 404 || err.status === 403) { thread.textContent = ""; thread.appendChild(h("p", { class: "em", text: t.denied })); }
      });
    }
    function markRead() {
      if (!current) return;
      api("conversations/" + encodeURIComponent(current.id) + "/read", { token: s.token }).then(function (json) {
        ctx.setUnread(json.unread_count);
        (s.conversations || []).forEach(function (c) { if (current && c.id === current.id) c.unread = 0; });
      }).catch(noop);
    }
    var drawn = { id: null, count: 0 }; // the thread last drawn, and how many messages it had
    function renderParts() {
      // The visitor's messages on their way or not sent are not the server's yet: they stay, last, with their Retry;
      // unless the server shows one (its answer was lost, or is slow): drawn once, as the server's.
      var stored = {};
      (current.parts || []).forEach(function (part) { if (part.idempotency_key) stored[part.idempotency_key] = 1; });
      var kept = [].slice.call(thread.querySelectorAll(".pd,.fail")).filter(function (node) {
        if (!node.key || !stored[node.key]) return true;
        node.delivered = true;
        forget(node);
        if (node.classList.contains("fail")) live.textContent = ""; // its "Not sent." no longer holds
        return false;
      });
      thread.textContent = "";
      var comments = commentsOf(current);
      // The team's greeting stays at the top of a thread the visitor started (not above a teammate's message).
      if (!comments.length || comments[0].author_type === "contact") thread.appendChild(greeting());
      var ends = true;
      // A run: messages by one author with no 5 minutes' quiet between them. Its author's name shows on its first,
      // its avatar and time on its last.
      function sameRun(a, b) {
        return b && a.author_type === b.author_type && a.author_name === b.author_name && new Date(b.created_at) - new Date(a.created_at) <= 300000;
      }
      // The one message that came since the thread was drawn, when it is the team's (its start is what to read).
      var came = drawn.id === current.id && comments.length > drawn.count ? comments.length - drawn.count : 0, reply = null;
      comments.forEach(function (part, i) {
        var mine = part.author_type === "contact", starts = ends;
        ends = !sameRun(part, comments[i + 1]);
        var node = thread.appendChild(bubble(part.body, mine, part, { stamped: ends, named: starts }));
        if (came && !mine && i === drawn.count && i === comments.length - 1) reply = node;
      });
      if (current.state === "closed") thread.appendChild(h("p", { class: "nt", text: t.closed }));
      kept.forEach(function (node) { thread.appendChild(node); });
      showTyping();
      var r = current.rating_request;
      if (r) {
        // The same request in the same state keeps its card: a poll's re-render must not drop a comment being typed.
        var key = r.id + ":" + r.rating + ":" + r.final;
        if (!rateCard || rateKey !== key) { rateCard = ratingCard(r); rateKey = key; }
        thread.appendChild(rateCard);
      }
      askEmail();
      title.textContent = current.teammate_name || t.conversation;
      drawn = { id: current.id, count: comments.length };
      if (pinned) {
        toEnd();
        // A reply taller than the thread shows from its first line, not its last: the thread stops there (unpinned:
        // the visitor reads on down, and is pinned again at the bottom).
        var above = reply ? reply.getBoundingClientRect().top - body.getBoundingClientRect().top - 8 : 0;
        if (above < 0) { body.scrollTop += above; lastTop = body.scrollTop; pinned = false; }
      } else if (came) cameBelow(came);
    }
    // The team asks for a rating when it closes the conversation (CSAT): 1 to 5 stars and an optional comment,
    // changeable until open_until, then shown as given. Native radio buttons: arrow keys pick, Tab moves on.
    var rateCard = null, rateKey = "";
    function ratingCard(r) {
      var picked = r.rating || 0, conv = current;
      var labels = [1, 2, 3, 4, 5].map(function (n) {
        var input = h("input", { type: "radio", name: "pr", value: String(n), class: "sr", checked: n === picked, disabled: r.final,
          "aria-label": t.rateOf.replace("{n}", n), onchange: function () {
            picked = n;
            paint();
            if (note.textContent === t.ratePick) note.textContent = noteText; // a star is picked: the hint has done its job
          } });
        return h("label", { class: "sa" }, [input, h("span", { "aria-hidden": "true", text: "★" })]);
      });
      function paint() { labels.forEach(function (label, i) { label.className = "sa" + (i < picked ? " on" : ""); }); }
      paint();
      var remark = h("textarea", { rows: "2", maxlength: "2000", placeholder: t.rateRemark, "aria-label": t.rateRemark, disabled: r.final });
      remark.value = r.remark || "";
      var noteText = r.final ? t.rateFinal : r.rating ? t.rateUntil.replace("{h}", at(r.open_until)) : "";
      var note = h("p", { class: "nt", role: "status", text: noteText });
      var button = h("button", { class: "sd", type: "submit", hidden: r.final, text: r.rating ? t.rateUpdate : t.rateSend });
      var heading = r.rating ? t.rateThanks.replace("{n}", r.rating) : t.rateAsk;
      var card = h("form", { class: "ask rt", novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        if (!picked) { note.textContent = t.ratePick; return; }
        button.disabled = true;
        api("conversations/" + encodeURIComponent(conv.id) + "/rating", { token: s.token, request_id: r.id, rating: picked, remark: remark.value.trim() }).then(function (json) {
          conv.rating_request = json.rating_request;
          if (current === conv) renderParts();
          live.textContent = t.rateThanks.replace("{n}", picked);
          // The card was redrawn: the keyboard stays on it (its button, else its first star), not lost on the page.
          var next = rateCard && (rateCard.querySelector("button:not([hidden])") || rateCard.querySelector("input:checked"));
          if (next) next.focus();
        }, function (err) {
          button.disabled = false;
          // 409: too late (expired, or final): an unanswered request goes, a given rating stays as given.
          if (err.status === 409) { conv.rating_request = r.rating ? { id: r.id, rating: r.rating, remark: r.remark, final: true } : null; if (current === conv) renderParts(); }
          else note.textContent = t.error;
        });
      } }, [h("fieldset", {}, [h("legend", { text: heading })].concat(labels)), remark, note, button]);
      return card;
    }
    function at(iso) {
      try { return new Date(iso).toLocaleString(lang, { weekday: "short", hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; }
    }

    // Nobody answered for a while and Parley has no email for the visitor: ask for one, so the reply can
    // reach them after they leave (the server says when, per website; null: never).
    var askTimer = null, emailGiven = false;
    function askEmail() {
      clearTimeout(askTimer);
      var comments = commentsOf(current), last = comments[comments.length - 1];
      // A closed conversation waits for no reply: nothing to be notified of (its rating card asks instead).
      if (emailGiven || !current || current.state === "closed" || current.ask_email_after == null || !last || last.author_type !== "contact") return;
      var wait = new Date(last.created_at).getTime() + current.ask_email_after * 1000 - Date.now();
      var shown = current;
      if (wait > 0) {
        askTimer = setTimeout(function () { if (current === shown && view === "thread" && current.state !== "closed") askEmail(); }, wait);
        return;
      }
      // A teammate is writing the answer now: no ask while the dots show (showTyping asks once they go unanswered).
      if (!thread.querySelector(".ask") && !typingNode) { thread.appendChild(emailCard()); keepPinned(); }
    }
    function commentsOf(conv) {
      return ((conv && conv.parts) || []).filter(function (part) { return !part.part_type || part.part_type === "comment"; });
    }
    // The address given can be changed (a typo), until the page is left: a new card, the address in it.
    function emailCard(given) {
      var input = h("input", { type: "email", autocomplete: "email", placeholder: "you@example.com", "aria-label": t.emailAsk });
      input.value = given || "";
      var error = h("p", { class: "er", role: "alert" });
      var button = h("button", { class: "sd", type: "submit", text: t.emailSend });
      var card = h("form", { class: "ask", novalidate: true, onsubmit: function (ev) {
        ev.preventDefault();
        var email = input.value.trim();
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) { error.textContent = t.emailInvalid; return; }
        button.disabled = true;
        api("update", { token: s.token, user: { email: email } }).then(function () {
          emailGiven = true;
          var note = h("p", { class: "nt", role: "status", text: t.emailThanks.split("{e}").join(email) + " " }, [
            h("button", { type: "button", text: t.emailChange, onclick: function () { var again = emailCard(email); note.replaceWith(again); again.querySelector("input").focus(); } })]);
          card.replaceWith(note);
        }, function () { button.disabled = false; error.textContent = t.error; });
      } }, [h("p", { text: t.emailAsk }), h("div", { class: "rw" }, [input, button]), error]);
      return card;
    }

    // A teammate writing a reply in the open thread (the poll's `typing`): shown last, never saying who.
    var typingIn = [], typingNode = null;
    function showTyping() {
      // Not under a closed conversation's notice: a reply would open it again, and shows then.
      var on = view === "thread" && current && current.state !== "closed" && typingIn.indexOf(current.id) >= 0;
      if (!on) {
        if (typingNode) { typingNode.remove(); typingNode = null; if (view === "thread") askEmail(); }
        return;
      }
      var nearBottom = atBottom();
      typingNode = typingNode || h("div", { class: "m ty", role: "img", "aria-label": t.typing }, [
        h("span", { class: "av ti", "aria-hidden": "true", html: TEAM_ICON }), h("div", { class: "bu" }, [h("i"), h("i"), h("i")])]);
      thread.appendChild(typingNode);
      if (nearBottom) body.scrollTop = body.scrollHeight;
    }
    // A new conversation opens with the team's greeting, so the visitor is not facing an empty box.
    function greeting() {
      // The team has no one face here: a chat icon in the site's colour, not the initial of the word "Team" (a bare "T").
      var icon = h("span", { class: "av ti", "aria-hidden": "true", html: TEAM_ICON });
      return h("div", { class: "m gr" }, [icon, h("div", {}, [h("div", { class: "bu", text: t.hello + " " + intro() })])]);
    }
    // `run`: where it stands in its author's run of messages (renderParts): `stamped`, the last (its time and the
    // team's avatar shown; the label says both either way), `named`, the first (the author's name). No `run` (an
    // in-app message, one on its way): the name and the avatar, no time.
    function bubble(text, mine, part, run) {
      var kids = [], last = !run || run.stamped;
      if (!mine) kids.push(last ? avatar(part) : h("span", { class: "av sp", "aria-hidden": "true" }));
      var inner = [text ? h("div", { class: "bu", dir: "auto" }, linked(text)) : null, fileList(part && part.attachments)];
      if (!mine && part && part.author_name && (!run || run.named)) inner.unshift(h("div", { class: "au", text: part.author_name }));
      var when_ = part && part.created_at ? when(part.created_at, true) : "";
      if (run && run.stamped && when_) inner.push(h("div", { class: "ts", "aria-hidden": "true", text: when_ }));
      kids.push(h("div", {}, inner));
      return h("div", { class: "m" + (mine ? " me" : ""), "aria-label": (mine ? t.you : (part && part.author_name) || t.team) + (when_ ? ", " + when_ : "") }, kids);
    }

    // --- files: the paperclip, paste and drop; checked against the website's limits, sent with progress ----
    var files = (function () {
      var chosen = [], limits = null;
      var chips = h("div", { class: "ch" }), error = h("div", { class: "ae", role: "alert" });
      var input = h("input", { type: "file", multiple: true, hidden: true, onchange: function () { add(input.files); input.value = ""; } });
      function ask() {
        // The limits and where uploads go (the page cannot know the server's address): one cached GET.
        return limits ? Promise.resolve(limits) : api("attachments/limits").then(function (json) { return (limits = json); });
      }
      function add(list) {
        if (!list || !list.length || inApp) return false;
        var picked = [].slice.call(list);
        ask().then(function (l) {
          error.textContent = "";
          picked.forEach(function (f) {
            var ext = (f.name.match(/\.[^.]+$/) || [""])[0].toLowerCase();
            if (chosen.length >= l.max_files) error.textContent = t.tooMany.replace("{m}", l.max_files);
            else if (f.size > l.max_bytes) error.textContent = f.name + t.tooBig.replace("{m}", Math.round(l.max_bytes / 1048576));
            else if (l.types.indexOf(f.type) < 0 && l.extensions.indexOf(ext) < 0) error.textContent = f.name + t.badType;
            else chosen.push(f);
          });
          paintChips();
        }, function () {
          // Without the limits nothing can be checked nor sent: said where the file would have shown, not dropped.
          error.textContent = t.notAdded;
        });
        return true;
      }
      // A picked image shows as a small preview before it is sent (a local blob: URL, freed with its chip).
      var previews = [];
      function paintChips() {
        previews.forEach(function (url) { URL.revokeObjectURL(url); });
        previews = [];
        chips.textContent = "";
        chosen.forEach(function (f, i) {
          var thumb = null;
          if (/^image\//.test(f.type) && w.URL && URL.createObjectURL) {
            var url = URL.createObjectURL(f);
            previews.push(url);
            thumb = h("img", { src: url, alt: "", onerror: function () { this.remove(); } });
          }
          chips.appendChild(h("span", {}, [thumb, d.createTextNode(f.name), h("button", { type: "button", "aria-label": t.remove + f.name, text: "×", onclick: function () { chosen.splice(i, 1); paintChips(); } })]));
        });
      }
      function upload(path, fields, list, node) {
        var bar = h("progress", { class: "pg", max: "100", value: "0", "aria-label": t.sending });
        node.lastChild.appendChild(bar);
        return ask().then(function (l) {
          return new Promise(function (ok, fail) {
            var form = new FormData(), xhr = new XMLHttpRequest();
            for (var k in fields) if (fields[k] != null) form.append(k, fields[k]);
            list.forEach(function (f) { form.append("files", f, f.name); });
            xhr.open("POST", l.upload_base + path);
            // An upload that makes no progress for a minute (sending, then waiting for the answer) has stalled: it
            // fails, with Retry, instead of holding every message written after it.
            var stall = 0;
            var watch = function () { clearTimeout(stall); stall = setTimeout(function () { xhr.abort(); }, UPLOAD_STALL_MS); };
            xhr.upload.onprogress = function (ev) { watch(); if (ev.lengthComputable) bar.value = Math.round(ev.loaded / ev.total * 100); };
            xhr.upload.onload = watch;
            xhr.onloadend = function () { clearTimeout(stall); };
            xhr.onload = function () {
              var json = {};
              try { json = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a proxy's page */ }
              if (xhr.status < 300) { bar.remove(); ok(json); }
              else fail({ status: xhr.status, message: json.error && json.error.message, field: json.error && json.error.field });
            };
            xhr.onerror = xhr.onabort = function () { fail({ status: 0 }); };
            xhr.send(form);
            watch();
          });
        });
      }
      panel.addEventListener("dragover", function (ev) { if (composer && !inApp) { ev.preventDefault(); panel.classList.add("dz"); } });
      panel.addEventListener("dragleave", function () { panel.classList.remove("dz"); });
      panel.addEventListener("drop", function (ev) {
        panel.classList.remove("dz");
        if (composer && add(ev.dataTransfer && ev.dataTransfer.files)) ev.preventDefault();
      });
      return {
        chips: chips, error: error, add: add, upload: upload,
        reset: function () { chosen = []; error.textContent = ""; paintChips(); },
        refused: function (message) { error.textContent = message; },
        take: function () { var out = chosen; chosen = []; paintChips(); return out; },
        count: function () { return chosen.length; },
        button: function () { return h("button", { class: "pc", type: "button", "aria-label": t.attach, title: t.attach, html: CLIP, onclick: function () { ask(); input.click(); } }, [input]); },
      };
    })();
    // A message's files: each as "name · size", a link that saves it under its name (the server's Content-Disposition
    // names it: `download` is ignored across origins); images above it as their thumbnail, opening the full image.
    function fileList(list) {
      if (!list || !list.length) return null;
      // The links are made for this contact and carry no token: copied or kept in history, they open one file for an hour.
      return h("div", { class: "fs" }, list.map(function (f) {
        var label = f.name + (f.size ? "\u00a0· " + size(f.size).replace(/ /g, "\u00a0") : ""); // "1.4 MB" on one line
        if (!f.url) return h("span", { class: "f", text: label }); // still uploading
        var save = h("a", { class: "f", href: f.download_url || f.url, download: f.name, text: label });
        if (!f.inline) return save;
        return h("div", { class: "fi" }, [h("a", { href: f.url, target: "_blank", rel: "noopener noreferrer" }, [h("img", { src: f.thumbnail_url, alt: f.name, class: "ld", onload: loaded })]), save]);
      }));
    }
    // A photo has a box of its own while it loads (not a blank gap in the thread), then its own size.
    function loaded() { this.className = ""; }
    // 1,234,567 bytes: "1.2 MB" ("1,2 Mo" in French); under a megabyte in whole kilobytes, at least 1 (as the admin says).
    function size(bytes) {
      var mb = bytes >= 1048576, n = mb ? Math.round(bytes / 104857.6) / 10 : Math.max(1, Math.round(bytes / 1024));
      try { return new Intl.NumberFormat(lang, { style: "unit", unit: mb ? "megabyte" : "kilobyte" }).format(n); }
      catch (e) { return n + (mb ? " MB" : " kB"); }
    }

    // Messages leave one after another, in the order written. One written while the one before is still on its way
    // shows at once and waits its turn: it is never dropped. Every message written in one thread goes to what that
    // thread talks to (its `talk`): the conversation its first message creates, whatever the visitor opens meanwhile.
    // A message not sent yet (on its way, or failed with its Retry) stays with its conversation: leaving the thread
    // and coming back shows it again.
    var sending = Promise.resolve(), unsent = [];
    // Bumped when the messenger starts over as a new visitor (startOver): a message written before goes back to the
    // composer instead of leaving under the new visitor's name.
    var epoch = 0;
    function send(retryText, retryNode, retryFiles) {
      var text = retryText || (retryNode ? "" : composer.value.trim());
      var picked = retryFiles || files.take();
      if ((!text && !picked.length) || (!retryNode && !sendBtn)) return; // a retry needs no thread on screen
      var rest = ""; // words past the limit (put back by code, not typed): they stay in the composer, not cut off
      if (text.length > MAX_BODY) { rest = text.slice(MAX_BODY).trim(); text = text.slice(0, MAX_BODY); }
      if (!retryNode) files.refused(""); // a file refused last time is no news once the next message goes
      var node = retryNode || bubble(text, true, { attachments: picked.map(function (f) { return { name: f.name, size: f.size }; }) });
      node.classList.remove("fail");
      node.classList.add("pd");
      var fail = node.querySelector(".nf");
      if (fail) fail.remove();
      if (!retryNode) { thread.appendChild(node); composer.value = rest; fit(); keyAt = 0; } // sent: no longer typing
      var empty = thread && thread.querySelector(".em");
      if (empty) empty.remove();
      if (node.isConnected) toEnd();
      // The replies of this conversation still waiting on their back-off go first: written before it, they are stored
      // before it. (A new thread's first message holds those written after it itself.)
      if (!retryNode && talk.conv) resendFailed(false, talk);
      // A retried message keeps the visitor it was written as (a new one since: it goes back to the composer).
      queue(node, text, picked, { box: composer, talk: retryNode ? retryNode.talk : talk, epoch: retryNode ? retryNode.epoch : epoch });
    }
    // The message's turn to leave, after those written before it.
    function queue(node, text, picked, written) {
      node.talk = written.talk;
      node.epoch = written.epoch;
      node.key = node.key || newKey(); // the same with its Retry: the server stores the message once
      node.words = text;
      node.files = picked;
      if (unsent.indexOf(node) < 0) unsent.push(node);
      sending = sending.then(function () { return deliver(text, picked, node, written); }).catch(noop);
    }
    // A message's idempotency key, a UUID v4 (crypto.randomUUID needs a secure context, getRandomValues does not).
    function newKey() {
      if (w.crypto.randomUUID) return w.crypto.randomUUID();
      var b = w.crypto.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 15) | 64;
      b[8] = (b[8] & 63) | 128;
      var x = Array.prototype.map.call(b, function (v) { return (v + 256).toString(16).slice(1); }).join("");
      return [x.slice(0, 8), x.slice(8, 12), x.slice(12, 16), x.slice(16, 20), x.slice(20)].join("-");
    }
    function deliver(text, picked, node, written) {
      if (destroyed) return; // the site shut the messenger down (its user logged out): nothing leaves as the next one
      if (written.epoch !== epoch) { forget(node); node.remove(); if (!node.dropped) redraft(text, picked); return; } // its visitor is gone
      var box = written.box, at = written.talk, conv = at.conv;
      // The thread's first message failed with no word from Parley (it may have made the conversation all the same):
      // the ones written after it wait for its Retry, which tells where they go (each would start one of its own).
      var first = at.first;
      if (!conv && !at.inApp && first && first !== node && first.retry && first.classList.contains("fail")) {
        // Said under it, in grey: it looked on its way for as long as the first one stayed unsent.
        var waits = h("p", { class: "nf wt", text: t.waits });
        node.lastChild.appendChild(waits);
        node.hold = function () { node.hold = null; waits.remove(); return deliver(text, picked, node, written); };
        (at.held = at.held || []).push(node);
        return;
      }
      // The visitor is looking at the thread these messages are written in (maybe drawn again since).
      var showing = function () { return talk === at && view === "thread"; };
      // The visitor it was written as left meanwhile (a shutdown, another user signed in by update, a contact gone): its
      // answer is theirs, never the new one's. A first message's answer carries its writer's token, and keeping it
      // had signed the messenger back in as them, the next message going under their name.
      var gone = function () { return destroyed || written.epoch !== epoch; };
      var post = picked.length ? function (path, fields) { return files.upload(path, fields, picked, node); } : api;
      var req = conv
        ? post.apply(null, addressed(conv, text, node.key)).then(function (json) {
          if (gone()) return;
          // The conversation as the reply left it (writing reopens a closed one): the thread and the list follow the
          // server, not what they showed before (a "closed" notice stayed until a poll, long after a failed send).
          var now = json.conversation || {};
          s.conversations = (s.conversations || []).map(function (c) { return c.id === now.id ? now : c; });
          if (!current || current.id !== conv.id) return; // the visitor went elsewhere meanwhile
          var parts = current.parts || [];
          if (json.part && !parts.some(function (p) { return p.id === json.part.id; })) current.parts = parts.concat([json.part]);
          if (now.state) current.state = now.state;
          if (current.state !== "closed") current.rating_request = null; // shown for a closure only while closed
        })
        : at.inApp ? api("messages/" + encodeURIComponent(at.inApp.id) + "/reply", { token: s.token, body: text, idempotency_key: node.key }).then(function (json) {
          if (gone()) return;
          ctx.keep(s.token, true);
          at.conv = json.conversation;
          unanswered = unanswered.filter(function (m) { return m.id !== at.inApp.id; }); // its conversation is listed now
          at.inApp = null;
          listFirst(json.conversation);
          if (!showing()) return; // the visitor went elsewhere meanwhile
          inApp = null;
          current = json.conversation;
        })
        // A first message written before the boot ping has answered waits for it (up to 2 s: an
        // unreachable server retries its ping for longer), so the conversation belongs to the
        // visitor the ping recorded, not to a new contact.
        : Promise.race([ctx.get()[6], new Promise(function (ok) { setTimeout(ok, 2000); })]).then(function () {
          if (gone()) throw { status: 0 };
          at.first = node;
          return post.apply(null, addressed(null, text, node.key));
        }).then(function (json) {
          if (gone()) return;
          if (json.token) {
            ctx.keep(json.token, true);
            // A boot ping slower than that wait answers later, with the token of the visitor it recorded: the
            // chat's contact stays the one the messenger reads (else its replies never showed).
            Promise.resolve(ctx.get()[6]).then(function () { if (!destroyed && s.token !== json.token) ctx.keep(json.token, true); }, noop);
          }
          if (!json.conversation) return;
          at.conv = json.conversation;
          listFirst(json.conversation);
          if (lastPlace() === "new") place = at.conv.id; // the new thread the visitor left is this conversation now
          if (view === "list") showList(); // it lists the conversation the visitor just started
          if (!showing()) return;
          current = json.conversation;
          composer.setAttribute("aria-label", t.reply);
        });
      return req.then(function () {
        wroteAt = Date.now();
        forget(node);
        node.classList.remove("pd");
        live.textContent = "";
        if (current && showing()) renderParts();
      }, failed).then(function () {
        // The thread's first message settled: the ones held behind it go now, in order and before any written since
        // (as replies where it made the conversation, else the next starts one); failed with its Retry, they wait on.
        if (at.first === node && (at.conv || !node.retry || !node.classList.contains("fail"))) return release(at);
      });
      function failed(err) {
        if (destroyed || node.delivered || node.dropped) return; // stored, or its writer's: no failure to tell
        // Its contact went while it was on its way (startOver): its words go back to the new composer, as the others'.
        if (written.epoch !== epoch) { forget(node); node.remove(); redraft(text, picked); return; }
        // Written as a contact that is gone: a new conversation, as the new visitor, with the same words and files
        // (a message that waited behind it joins them in the new composer). Still "on its way" while startOver puts
        // the failed ones back: this one goes back once, here.
        if (startOver(err)) {
          forget(node);
          node.remove();
          // A new thread first, keeping what its composer holds (words startOver put back, or typed): put back into
          // the old one, they went with it.
          if (showing()) showThread(null, composer ? composer.value : "");
          else if (view === "list") showList(); // the gone visitor's conversations leave the list
          redraft(text, picked);
          return;
        }
        node.classList.remove("pd");
        var bar = node.querySelector(".pg");
        if (bar) bar.remove();
        // A refused file (too large, a type the site does not take, over an allowance of files): nothing was
        // sent. The message goes back to the composer with its text (the visitor sends it, or picks another
        // file), the file is dropped and the server's words are said where files are chosen.
        var fileRefused = err.status === 413 || ((err.status === 400 || err.status === 429) && err.field === "files");
        if (picked.length && fileRefused && composer === box && view === "thread") {
          node.remove();
          forget(node);
          var typed = composer.value.trim();
          composer.value = text + (text && typed ? "\n" : "") + typed;
          fit();
          files.refused(err.message || t.error);
          live.textContent = err.message || t.error;
          composer.focus();
          return;
        }
        node.classList.add("fail");
        node.status = err.status;
        // Under the message: the server's words for a refusal (no retry: the same message would be refused again),
        // else "Not sent." and a Retry button (the banner above says when Parley cannot be reached).
        var said = (err.status === 400 || err.status === 413) && err.message;
        node.retry = said ? null : function () { send(text, node, picked); };
        // No word from Parley (offline, a time-out, a reset, a gateway's 502-504): sent again by itself once Parley
        // answers again, with its key, so a message that had arrived is not stored twice (Retry sends it sooner).
        // A 409: its first try, whose answer a gateway's 504 lost, is still being written: it is stored by then.
        node.unheard = !said && (unheard(err.status) || err.status === 409);
        node.lastChild.appendChild(h("p", { class: "nf" }, [h("span", { text: said || t.failed }),
          // The button goes with the notice: the keyboard's focus stays in the messenger, on the composer.
          said ? null : h("button", { class: "fl", type: "button", text: t.retry, onclick: function () { if (node.retry) node.retry(); if (composer) composer.focus(); } })]));
        live.textContent = said || t.failed;
      }
    }
    // Two threads' talk (the same one, or kept and shown again: the same conversation).
    function sameThread(a, b) { return a === b || !!(a.conv && b.conv && a.conv.id === b.conv.id); }
    // Back online, or Parley answers: the messages that failed with no word from Parley go again, in the order written,
    // as their Retry would send them (the banner promised "We'll keep trying"). Each at most once per its own back-off
    // (at once, then 4 s doubling to a minute), unless the browser is back online: an endpoint that alone keeps failing
    // while the others answer is not sent every message on every poll.
    // `only`: those of one thread, whatever their back-off (a new message of that thread goes after them, in order).
    function resendFailed(online, only) {
      if (destroyed) return;
      var at = Date.now();
      unsent.filter(function (node) { return node.unheard && node.retry && node.classList.contains("fail") && (only ? sameThread(node.talk, only) : online || at >= (node.due || 0)); }).forEach(function (node) {
        var retry = node.retry;
        node.retry = null;
        node.unheard = false;
        node.tries = (node.tries || 0) + 1;
        node.due = at + Math.min(2000 * Math.pow(2, node.tries), 60000);
        retry();
      });
    }
    // What waited for the connection: the thread's history if it was being loaded, and the messages sent offline.
    function backOnline(online) {
      if (destroyed) return;
      if (files.error.textContent === t.notAdded) files.error.textContent = ""; // no longer true
      askAvailability(); // asked in vain meanwhile: the greeting's "within a few hours" becomes the real figure
      if (view === "thread" && current && thread && thread.querySelector(".em")) loadThread();
      resendFailed(online);
    }
    w.addEventListener("online", backOnline);
    // The messages held behind their thread's failed first message go, in order written: as replies once it has made
    // its conversation, or starting one when it never will.
    function release(at) {
      var held = at.held || [];
      at.held = [];
      return held.reduce(function (turn, node) { return turn.then(function () { return node.hold && node.hold(); }); }, Promise.resolve());
    }
    // A conversation the answer names, first in the list (once: a message sent again may name one listed already).
    function listFirst(conv) {
      s.conversations = [conv].concat((s.conversations || []).filter(function (c) { return c.id !== conv.id; }));
    }
    function forget(node) {
      var at = unsent.indexOf(node);
      if (at >= 0) unsent.splice(at, 1);
    }
    // A message written as a visitor who is gone (erased, merged away): back in a new thread's composer, after the
    // words already there, with its files; kept (`parked`) until the visitor opens one when none is on screen.
    var parked = { text: "", files: [] };
    function redraft(text, picked) {
      parked.text += (parked.text && text ? "\n" : "") + (text || "");
      parked.files = parked.files.concat(picked || []);
      if (view === "thread" && composer && talk && !talk.conv && !talk.inApp) unpark();
    }
    function unpark() {
      if (!parked.text && !parked.files.length) return;
      var drafted = composer.value.trim();
      composer.value = drafted + (drafted && parked.text ? "\n" : "") + parked.text;
      fit();
      files.add(parked.files);
      parked = { text: "", files: [] };
    }
    // The messages of this conversation not sent yet, drawn again in its thread (`id`; a new thread: those of the
    // last new thread whose first message has not made its conversation yet, which it then takes over).
    function unsentOf(id) {
      return unsent.filter(function (node) { return id ? node.talk.conv && node.talk.conv.id === id : !node.talk.conv && !node.talk.inApp; });
    }
    // Where a message goes, and what it says: a reply to its conversation, else the start of one.
    function addressed(conv, text, key) {
      return conv ? ["conversations/" + encodeURIComponent(conv.id) + "/reply", { token: s.token, body: text, idempotency_key: key }]
        : ["conversations", withIdentity({ body: text, page_url: w.location.origin + w.location.pathname, idempotency_key: key })];
    }
    function withIdentity(payload) {
      if (s.token) payload.token = s.token;
      if (s.anon) payload.anonymous_id = s.anon;
      return payload;
    }

    // --- drafts: words written and not sent outlive the page, in this tab ------------------------
    // The composer's words, by thread (a conversation's id, "new" for one not started), in the tab's sessionStorage
    // (gone with the tab), tagged with the contact they were written as: kept when the visitor leaves a thread or the
    // page, put back into that thread's composer, where the messenger opens next. Another contact's messenger drops
    // them, and so do a logout (shutdown) and an erasure (startOver). Only with a token (a visitor support knows);
    // never files. The messages sent and not sent yet are kept too (`u`, below), with their key.
    var DRAFTS = "parley-draft-" + ctx.get()[7];
    function writer() {
      // The token's signed payload (base64 JSON) names its contact and website: read as a tag only, trusted by nobody.
      try {
        var p = JSON.parse(atob(s.token.split(":")[0].replace(/-/g, "+").replace(/_/g, "/")));
        return p.c + "." + p.w;
      } catch (e) { return ""; }
    }
    // What the tab keeps, whoever wrote it.
    function record() {
      try { return Object(JSON.parse(w.sessionStorage.getItem(DRAFTS))); } catch (e) { return {}; } // blocked, not JSON
    }
    // What is kept for this contact (another's, or none: nothing).
    function stored() {
      var kept = record();
      return kept.by && kept.by === writer() ? kept : {};
    }
    function drafts() {
      var out = {}, t = stored().t || {};
      // Texts only: the page's own scripts can write there too.
      Object.keys(t).forEach(function (id) { if (typeof t[id] == "string") out[id] = t[id]; });
      return out;
    }
    function keepDrafts(kept) {
      try {
        var a = lastPlace(), u = pending(), had = tabMark(), keep = !!writer() && u.length > 0;
        if (writer() && (Object.keys(kept).length || a || u.length || peeked)) w.sessionStorage.setItem(DRAFTS, JSON.stringify({ by: writer(), t: kept, a: a, u: u, k: keep ? TAB : "", p: peeked }));
        else w.sessionStorage.removeItem(DRAFTS);
        if (keep || had) keptMark(had, keep);
      } catch (e) { /* storage blocked or full: the words stay with the page */ }
    }
    // Messages kept: the next page's loader loads the messenger (closed) to send them, also for a visitor with no
    // conversation yet (no reply awaited loads it otherwise). The loader reads cookies only (sessionStorage costs it
    // bytes every page view pays): a session cookie naming the tabs that keep some, each tab adding and removing its
    // own mark only (the id in its record, `k`), so that no tab's messenger drops another's. Each page takes a new id
    // (TAB) for its marks, so that a duplicated tab (its sessionStorage copied) never removes the other's. A mark left
    // by a tab closed with messages kept (lost with it) goes after a day, when a messenger loads: until then pages
    // load the messenger for nothing.
    var KEPT = "parley-kept-" + ctx.get()[7], MARK = /^[a-z\d]{1,8}$/, MARK_MINUTES = 1440;
    var TAB = (Math.random().toString(36) + "0000").slice(2, 10);
    function tabMark() {
      var k = record().k; // the page's scripts can write there too: an id, or nothing
      return typeof k == "string" && MARK.test(k) ? k : "";
    }
    // The marks, `gone` (this tab's previous one) and those older than a day (or set later than now: a clock put back,
    // or the page's scripts) left out, and this page's added when `on`.
    function keptMark(gone, on) {
      try {
        var now = Math.floor(Date.now() / 6e4), held = (d.cookie.match("(^|; )" + KEPT + "=([\\w.]+)") || [])[2] || "";
        if (!held && !on) return;
        var marks = held.split(".").filter(function (m) {
          var p = m.split("_"), age = now - parseInt(p[1], 36);
          return p.length == 2 && MARK.test(p[0]) && p[0] !== gone && p[0] !== TAB && age >= 0 && age < MARK_MINUTES;
        }).slice(-9);
        if (on) marks.push(TAB + "_" + now.toString(36));
        d.cookie = KEPT + "=" + (marks.join(".") || "0") + ";path=/" + (marks.length ? "" : ";max-age=0") +
          ";SameSite=Lax" + (location.protocol == "https:" ? ";Secure" : "");
      } catch (e) { /* cookies blocked (a sandboxed frame): the next page's messenger loads for a reply only */ }
    }
    // The messages sent and not sent yet: on their way, or failed with their Retry (no word from Parley, or a refusal
    // that may pass: 429, 5xx); not those with files (a file does not outlive its page), nor an in-app message's
    // answer. Kept when the page goes, they go again from the messenger's next page in this tab, in the order
    // written, with their key: stored once, also when the first try had arrived (its answer lost with the page).
    // At most a minute's worth (the per-contact write limit): a record the page's scripts wrote floods nothing.
    var resumed = false, KEPT_MAX = 20; // until this page's messenger takes the kept ones over, they stay kept
    function pending() {
      if (!resumed) { var u = stored().u; return Array.isArray(u) ? u.slice(0, KEPT_MAX) : []; }
      return unsent.filter(function (node) { return !node.files.length && (keepable(node) || onItsWay(node)); }).slice(0, KEPT_MAX)
        .map(function (node) { return { k: node.key, x: node.words, c: node.talk.conv ? node.talk.conv.id : "" }; });
    }
    // Written by this visitor, and not an in-app message's answer.
    function ours(node) {
      return node.epoch === epoch && !node.talk.inApp;
    }
    // Failed with a Retry that may pass (no word from Parley, 429, 5xx).
    function keepable(node) {
      var st = node.status;
      return ours(node) && !!node.retry && (!st || st === 429 || st >= 500);
    }
    function onItsWay(node) {
      return ours(node) && node.classList.contains("pd");
    }
    // The page goes: a thread's first message not sent yet, when it failed, goes once more as the page does (a POST
    // outlives its page), also when the messenger is not opened on the next page. One per thread, so none overtakes
    // another: those after it go in order from the next page, where all are kept (their keys store each once).
    function lastTry() {
      var seen = [];
      unsent.forEach(function (node) {
        if (seen.indexOf(node.talk) >= 0) return;
        seen.push(node.talk);
        if (!keepable(node) || node.files.length) return;
        var to = addressed(node.talk.conv, node.words, node.key);
        ctx.api(to[0], to[1], 0).catch(noop);
      });
    }
    // Once the page's ping has answered (the token is this contact's): each kept message shows "on its way" in its
    // thread and goes, those of one thread to one conversation (the first starts it, or its first try had).
    function resume() {
      var u = pending(), talks = Object.create(null); // an id from storage is data, never one of Object's names
      // The thread on screen (the messenger opened before this page's ping answered): its kept messages show there.
      var shown = view === "thread" && talk && !talk.inApp ? talk : null;
      resumed = true;
      // None for this visitor: this tab's mark (if any) was another visitor's, before a logout; it goes, so that pages
      // do not load the messenger for nothing, and so do the marks of tabs closed a day ago. (Some: the mark stays
      // until this page keeps them anew, with its own.)
      keptMark(u.length ? "" : tabMark(), false);
      u.forEach(function (m) {
        // Written by the messenger, but the page's own scripts can write there too: text, as text; a key, a thread id.
        if (!m || typeof m.x != "string" || !m.x || typeof m.c != "string" || !/^[\w-]{0,32}$/.test(m.c) ||
          !/^[\da-f]{8}(-[\da-f]{4}){3}-[\da-f]{12}$/i.test(m.k)) return;
        var text = m.x.slice(0, MAX_BODY), node = bubble(text, true);
        node.classList.add("pd");
        node.key = m.k;
        var mine = shown && (shown.conv ? shown.conv.id === m.c : !m.c);
        talks[m.c] = talks[m.c] || (mine ? shown : { conv: m.c ? { id: m.c } : null, inApp: null });
        queue(node, text, [], { talk: talks[m.c], epoch: epoch });
        if (mine) { thread.appendChild(node); toEnd(); }
      });
      // Opened on a new thread before the ping settled (it failed: no conversations known to go back to), nothing
      // written there yet: the messenger goes to the thread the visitor left, where their kept messages are.
      var back = lastPlace();
      if (shown && !shown.conv && back && talks[back] && !thread.querySelector(".me") && !composer.value.trim()) showThread(back);
    }
    // Where the visitor was when they closed the messenger or left the page (a conversation's id, "new" or "list"):
    // the launcher opens there again, not on a draft left in another thread. Kept with the drafts, for their contact.
    var place; // undefined until the visitor closes the messenger or leaves the page: the kept one holds until then
    function here() {
      if (view === "list") return "list";
      return view === "thread" && !inApp && !(talk && talk.inApp) ? (current ? current.id : "new") : null;
    }
    function lastPlace() {
      if (place !== undefined) return place;
      var a = stored().a;
      return typeof a == "string" ? a : null;
    }
    function takeDraft(id) {
      var kept = drafts(), text = kept[id || "new"] || "";
      delete kept[id || "new"];
      keepDrafts(kept);
      return text;
    }
    // The open thread's composer words into `kept` (not an in-app message's: its answer opens a conversation).
    function stash(kept) {
      var id = talk && talk.conv ? talk.conv.id : "new", text = joined(composer.value.trim(), kept[id] || "");
      if (inApp || (talk && talk.inApp)) return kept;
      delete kept[id];
      if (text) kept[id] = text; // last: the messenger opens on the thread written in last
      return kept;
    }
    // Two texts, one per line; once when one holds the other (a page restored from the back-forward cache).
    function joined(a, b) {
      return !b.trim() || a.indexOf(b.trim()) >= 0 ? a : !a.trim() || b.indexOf(a.trim()) >= 0 ? b : a.trim() + "\n" + b;
    }
    // Kept words go back into the composer once the page's ping has answered: until then the token may be the
    // visitor's before (a site that boots another user without a shutdown), and their words are not this one's.
    var pinged = false;
    Promise.resolve(ctx.get()[6]).then(function () { pinged = true; if (!destroyed) resume(); });
    // The token names another contact than the one its messages were written as (a site that signs another user in
    // by `update`, without a shutdown): that one's messages not sent yet are dropped (never sent, kept nor shown as
    // the new one's), and so is its list.
    var who = writer();
    function switched() {
      var now = writer(), other = !!(who && now && now !== who);
      if (other) {
        anotherVisitor();
        if (composer) composer.value = ""; // their words too: never kept as the new one's
        unsent = unsent.filter(function (node) { node.dropped = true; node.remove(); return false; });
      }
      who = now || who;
      return other;
    }
    function restore(box, id) {
      Promise.resolve(ctx.get()[6]).then(function () {
        if (box !== composer || destroyed) return;
        box.value = joined(takeDraft(id), box.value);
        fit();
      });
    }
    // The thread on screen is left (for another, the list, or another page): its words are kept.
    function leave() {
      if (!destroyed && composer && view === "thread") keepDrafts(stash(drafts()));
    }
    // The page goes, or the site boots the messenger again on it: what the visitor wrote and has not seen sent is kept
    // for the tab's next messenger (the same visitor's: `by`), where the visitor was too.
    function handOver() {
      if (open) place = here();
      leave();
      if (destroyed) return;
      // With the messages not sent yet, the messenger open or not; a failed one with files is not kept (a file does not
      // outlive its page): its words wait in its thread's composer, to send with the files chosen again.
      var kept = drafts();
      unsent.forEach(function (node) {
        var id = node.talk.conv ? node.talk.conv.id : "new";
        if (node.files.length && (keepable(node) || onItsWay(node))) kept[id] = joined(node.words, kept[id] || "");
      });
      keepDrafts(kept);
      lastTry();
    }
    w.addEventListener("pagehide", handOver);

    // --- polling: every few seconds while open, a slow badge poll while closed -----------------
    function schedule() {
      clearTimeout(timer);
      if (destroyed) return;
      // The first badge poll comes soon (20 s) after the page loads.
      var base = open ? OPEN_POLL_MS : Date.now() - wroteAt < TALK_FOR_MS ? TALK_POLL_MS : cursor === null ? 20000 : BADGE_POLL_MS;
      // Backing off while Parley cannot be reached: open, to 16 s at most (the visitor looking at it finds Parley back
      // soon); closed, to 5 minutes.
      timer = setTimeout(poll, Math.min(base * Math.pow(2, failures + refusedPolls), open ? 16000 : 5 * 60000));
    }
    function poll() {
      if (destroyed) return;
      if (!s.token || (!open && d.visibilityState === "hidden")) {
        // Nothing to poll yet (a first message with no word from Parley, before any token): it goes again instead.
        if (failures && !s.token) resendFailed();
        schedule();
        return;
      }
      var path = q("poll") + (cursor ? "&since=" + encodeURIComponent(cursor) : "") +
        (current && composer.value && Date.now() - keyAt < OPEN_POLL_MS ? "&typing=" + current.id : "");
      api(path).then(function (json) {
        refusedPolls = 0;
        var first = cursor === null;
        cursor = json.cursor || cursor;
        typingIn = json.typing || [];
        if (open) showTyping();
        // A new reply while closed: the list learns which conversation has it, so opening goes straight to it.
        if (!open && json.unread_count > unreadCount) checkMessages();
        ctx.setUnread(json.unread_count); // more unread: paint brings the list, for the reply's preview
        var changed = json.changed || [];
        if (!open || (first && !changed.length)) return;
        // A full list (the 20 most recent changes) may leave out the open thread's: it is read again then too.
        if (view === "thread" && current && (first || changed.length >= 20 || changed.indexOf(current.id) >= 0)) return loadThread();
        if (view === "list" && (first || changed.length)) showList();
      }).catch(function (err) {
        // (a 502-504 backs off as a failure already)
        if (err && (err.status === 429 || err.status >= 500) && !unheard(err.status)) refusedPolls = Math.min(refusedPolls + 1, 6);
        if (startOver(err) && open) showList();
      }).then(schedule);
    }
    // The token no longer names a contact here (erased, merged away, revoked by a sign-in): the messenger starts over
    // as a new visitor, as the next page would, and stops showing what was that contact's. True when it did.
    // Another visitor from here on: the one before's list, thread and in-app message go, and their messages still on
    // their way are not sent as the new one's (deliver compares the epoch).
    function anotherVisitor() {
      epoch++;
      live.textContent = ""; // a "Not sent." said for the one before
      s.conversations = [];
      unanswered = [];
      older = [];
      more = false;
      current = inApp = cursor = place = peeked = null; // nothing of the one before is kept as the new one's
      paint(0); // the one before's badge and reply preview go with them (the next poll counts the new one's)
    }
    function startOver(err) {
      if (destroyed || !err || err.status !== 403 || err.field !== "token" || !s.token) return false;
      keepDrafts({}); // the gone contact's words, kept for other threads (the open one's go to the new composer)
      ctx.keep("", true);
      anotherVisitor();
      // Those not sent go back to the composer: the failed ones now, those on their way when their turn comes.
      unsent = unsent.filter(function (node) {
        if (node.classList.contains("pd")) return true;
        node.remove();
        redraft(node.words, node.files);
        return false;
      });
      // Those held behind a first message that failed go back after it, in order (each leaves `unsent` as it goes: a
      // copy is walked); behind one still on its way, after it too, when it settles (deliver's release).
      unsent.slice().forEach(function (node) {
        var first = node.talk.first;
        if (node.hold && !(first && first.classList.contains("pd"))) node.hold();
      });
      ctx.setUnread(0);
      return true;
    }

    // --- open / close, focus trap, keyboard ------------------------------------------------------
    function focusables() {
      return Array.prototype.filter.call(panel.querySelectorAll("button,textarea,input,a[href],[tabindex]"), function (el) {
        return !el.disabled && !el.hidden && el.getClientRects().length;
      });
    }
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.stopPropagation(); close(); return; }
      if (ev.key !== "Tab") return;
      var els = focusables();
      if (!els.length) return;
      var first = els[0], last = els[els.length - 1], active = root.activeElement;
      if (ev.shiftKey && (active === first || !panel.contains(active))) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && (active === last || !panel.contains(active))) { ev.preventDefault(); first.focus(); }
    });

    function openPanel(which, text) {
      if (destroyed) return;
      autoOpened = which === "message"; // opened for a message, not by the visitor: the page keeps its focus
      if (!open) {
        lastFocus = root.activeElement || d.activeElement;
        panel.hidden = false;
        panel.offsetWidth; // start the transition from the hidden state
        panel.classList.add("on");
        open = true;
        ctx.opened(true);
        paint(unreadCount);
      }
      var convs = s.conversations || [];
      var unread = convs.filter(function (c) { return c.unread; }), drafted;
      // Only a place the visitor can still go: one of their conversations (the page's scripts can write there too).
      var back = which === undefined && pinged ? lastPlace() : null;
      if (back && back !== "new" && back !== "list" && !convs.some(function (c) { return c.id === back; })) back = null;
      // Asked again on each opening (no token is needed): a gateway's 5xx page without CORS headers looks like a
      // refused origin, and an answer now says Parley is set up after all (setUpAfterAll).
      if (notSetUp) showNotSetUp(), askAvailability();
      else if (which === "message") showMessage(text);
      else if (which === "new") showThread(null, typeof text == "string" ? text : ""); // the site's showNewMessage text
      else if (which !== "list" && unread.length === 1) showThread(unread[0].id);
      else if (back === "list") showList();
      else if (back) showThread(back === "new" ? null : back);
      else if (which !== "list" && pinged && (drafted = Object.keys(drafts()).pop())) showThread(drafted === "new" ? null : drafted);
      else if (which !== "list" && !convs.length && !unanswered.length) showThread(null);
      else showList(which !== "list" && !unread.length && unreadCount > 0);
      if (view === "list") { var f = focusables(); if (f.length) (f[1] || f[0]).focus(); }
      schedule();
      setTimeout(poll);
    }
    function close() {
      if (!open) return;
      place = here();
      keepDrafts(drafts());
      open = false;
      panel.classList.remove("on");
      panel.hidden = true;
      ctx.opened(false);
      paint(unreadCount);
      var back = s.launcher && !s.launcher.hidden ? s.launcher : lastFocus;
      if (back && back.focus) back.focus();
      schedule();
    }
    function noop() {}

    // The unread badge on the launcher (the loader leaves it to the panel).
    var badge = h("span", { class: "b", hidden: true, "aria-hidden": "true" });
    var closeIcon = h("span", { class: "x", "aria-hidden": "true", html: X });
    var unreadCount = 0;
    function paint(n) {
      var launcher = s.launcher;
      // More unread while closed (this panel's poll, or the loader's, which loaded it): the list, for the preview.
      if (!open && +n > unreadCount) fetchList().catch(noop);
      unreadCount = +n || 0;
      if (!launcher) return;
      if (badge.parentNode !== launcher) launcher.append(closeIcon, badge);
      badge.hidden = !unreadCount;
      badge.textContent = unreadCount > 9 ? "9+" : String(unreadCount);
      launcher.setAttribute("aria-label", t.open + (unreadCount ? " (" + unreadCount + " " + t.unread + ")" : ""));
      peek();
    }
    // With the messenger closed, the newest unread reply shows above the launcher: who wrote and its first lines.
    // A click opens the messenger (as the launcher does); × puts it away until a newer reply, on the tab's next pages
    // too: the time of the reply put away (`p`) is kept with the contact's drafts.
    var peeked, preview = h("div", { class: "pv", hidden: true });
    function peek() {
      var part = !open && unreadCount && s.launcher && !s.launcher.hidden && (s.conversations || []).map(function (c) {
        return c.unread && c.last_part;
      }).filter(function (p) { return p && p.author_type == "teammate"; })[0];
      peeked = peeked || stored().p; // this contact's reply put away, on this tab's page before (null: none)
      if ((preview.hidden = !part || part.created_at === peeked)) return;
      preview.textContent = "";
      preview.append(
        h("button", { class: "pt", type: "button", onclick: function () { s.launcher.click(); } }, [h("b", { text: part.author_name }), h("span", { text: part.body })]),
        h("button", { class: "ib", type: "button", "aria-label": t.close, html: X, onclick: function () {
          peeked = part.created_at;
          keepDrafts(drafts());
          peek();
        } }));
      root.appendChild(preview);
    }

    schedule();
    checkMessages();
    return {
      open: openPanel,
      close: close,
      paint: paint,
      refresh: function (list) {
        // `list`: one that came with the loader's answer, for its token (an update's brings none: the panel's own stays).
        var shown = current || inApp, other = switched();
        setUpAfterAll();
        if (list) s.conversations = list, awaited(list);
        // What the one before had on screen (a conversation, an in-app message) leaves it.
        if (open && (view === "list" || (other && shown))) showList();
        peek(); // the site may have hidden the launcher (hide_default_launcher): no preview then
      },
      probe: probe,
      // `rebooting`: boot again, no logout: as when the page goes, nothing written is lost. A logout forgets it all.
      destroy: function (rebooting) { if (rebooting) handOver(); else place = peeked = null, unsent = [], resumed = true, keepDrafts({}); destroyed = true; clearTimeout(timer); if (growing) growing.disconnect(); w.removeEventListener("online", backOnline); open = false; panel.remove(); preview.remove(); badge.remove(); closeIcon.remove(); },
    };
  });
})(window, document);
