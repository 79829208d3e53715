# ruff: noqa: E501 - whole sentences read and translate best unbroken
"""The one catalogue of validation problems' texts (problems.py): every code in English (what
the administrative CLI prints, and logs), Slovenian and Italian (the staff console). Pure data.

A unit test checks that every code has all three languages with the same placeholders (a
translation may leave out `detail`, a library's English explanation), and that every code the
code base raises is here. English quotes a typed value with repr() (`'x'`), Slovenian with
»x«, Italian with «x».
"""

from __future__ import annotations

from collections.abc import Mapping

ENGLISH = "en"
DEFAULT_LANGUAGE = "sl"
LANGUAGES = ("en", "sl", "it")
# Placeholders a translation may leave out: an English text from a library or a server.
OPTIONAL_PLACEHOLDERS = frozenset({"detail"})

CATALOGUE: Mapping[str, Mapping[str, str]] = {
    # ---- composing problems ----
    "at": {"en": "{where}: {problem}", "sl": "{where}: {problem}", "it": "{where}: {problem}"},
    "hinted": {"en": "{problem} ({hint})", "sl": "{problem} ({hint})", "it": "{problem} ({hint})"},
    "detail": {"en": "{text}", "sl": "{text}", "it": "{text}"},
    "several": {"en": "{problems}", "sl": "{problems}", "it": "{problems}"},
    # ---- the console's field labels (as the forms label them) ----
    "field.party": {
        "en": "party",
        "sl": "Stranka v VOPI (številka)",
        "it": "Parte in VOPI (numero)",
    },
    "field.email": {"en": "e-mail", "sl": "E-pošta", "it": "E-mail"},
    "field.phone": {"en": "phone", "sl": "Mobilni telefon", "it": "Cellulare"},
    "field.events": {"en": "events", "sl": "Obveščanje", "it": "Notifiche"},
    "field.language": {"en": "language", "sl": "Jezik", "it": "Lingua"},
    "field.origin": {"en": "origin", "sl": "Način prijave", "it": "Modalità di iscrizione"},
    "field.reference": {
        "en": "reference",
        "sl": "Številka dokumenta pisne vloge",
        "it": "Numero del documento della domanda scritta",
    },
    "field.consent_at": {"en": "consent time", "sl": "Čas privolitve", "it": "Ora del consenso"},
    "field.cases": {"en": "cases", "sl": "Samo te zadeve", "it": "Solo queste pratiche"},
    "field.status": {"en": "status", "sl": "Stanje", "it": "Stato"},
    "field.since": {"en": "since", "sl": "Od", "it": "Dal"},
    "field.until": {"en": "until", "sl": "Do", "it": "Al"},
    "field.event_type": {"en": "event type", "sl": "Vrsta dogodka", "it": "Tipo di evento"},
    "field.staff_name": {"en": "name", "sl": "Ime in priimek", "it": "Nome e cognome"},
    "field.staff_role": {"en": "role", "sl": "Vloga", "it": "Ruolo"},
    # ---- e-mail addresses and phone numbers ----
    "contact.email_empty": {
        "en": "e-mail address is empty",
        "sl": "e-poštni naslov je prazen",
        "it": "l'indirizzo e-mail è vuoto",
    },
    "contact.email_invalid": {
        "en": "invalid e-mail address {value!r}: {detail}",
        "sl": "»{value}« ni veljaven e-poštni naslov",
        "it": "«{value}» non è un indirizzo e-mail valido",
    },
    "contact.phone_empty": {
        "en": "phone number is empty",
        "sl": "telefonska številka je prazna",
        "it": "il numero di telefono è vuoto",
    },
    "contact.phone_letters": {
        "en": "invalid phone number {value!r}: letters are not allowed",
        "sl": "»{value}« ni veljavna telefonska številka: črke niso dovoljene",
        "it": "«{value}» non è un numero di telefono valido: le lettere non sono ammesse",
    },
    "contact.phone_unreadable": {
        "en": "invalid phone number {value!r}: {detail}",
        "sl": "»{value}« ni telefonska številka (vpišite npr. 041 123 456 ali +386 41 123 456)",
        "it": "«{value}» non è un numero di telefono (scrivete ad es. 041 123 456 o +386 41 123 456)",
    },
    "contact.phone_invalid": {
        "en": "invalid phone number {value!r}: not a valid number (use e.g. 041 123 456 or +386 41 123 456)",
        "sl": "»{value}« ni veljavna telefonska številka (vpišite npr. 041 123 456 ali +386 41 123 456)",
        "it": "«{value}» non è un numero di telefono valido (scrivete ad es. 041 123 456 o +386 41 123 456)",
    },
    "contact.phone_not_mobile": {
        "en": "invalid phone number {value!r}: not a mobile number, cannot take SMS",
        "sl": "»{value}« ni številka mobilnega telefona, zato ne more prejemati SMS",
        "it": "«{value}» non è un numero di cellulare e non può ricevere SMS",
    },
    # ---- what a clerk types about a subscriber ----
    "input.empty": {
        "en": "{field} must not be empty",
        "sl": "{field}: polje ne sme biti prazno",
        "it": "{field}: il campo non può essere vuoto",
    },
    "input.party_id": {
        "en": "{field}: {value!r} is not a VOPI party id (no spaces, ≤ 200)",
        "sl": "{field}: »{value}« ni številka stranke v VOPI (brez presledkov, največ 200 znakov)",
        "it": "{field}: «{value}» non è un numero di parte in VOPI (senza spazi, al massimo 200 caratteri)",
    },
    "input.events": {
        "en": "{field} must be all or key, not {value!r}",
        "sl": "{field}: mora biti all (o vseh dogodkih) ali key (samo o ključnih), ne »{value}«",
        "it": "{field}: deve essere all (su tutti gli eventi) o key (solo su quelli chiave), non «{value}»",
    },
    "input.language": {
        "en": "{field} must be a two-letter code such as sl or it, not {value!r}",
        "sl": "{field}: mora biti dvočrkovna oznaka jezika, npr. sl ali it, ne »{value}«",
        "it": "{field}: deve essere un codice di lingua di due lettere, ad es. sl o it, non «{value}»",
    },
    "input.origin": {
        "en": "{field} must be one of {origins}, not {value!r}",
        "sl": "{field}: mora biti ena od vrednosti {origins}, ne »{value}«",
        "it": "{field}: deve essere uno tra {origins}, non «{value}»",
    },
    "input.text": {
        "en": "{field} must be printable text of at most {max} characters",
        "sl": "{field}: mora biti besedilo brez kontrolnih znakov, dolgo največ {max} znakov",
        "it": "{field}: deve essere un testo senza caratteri di controllo, di al massimo {max} caratteri",
    },
    "input.case_id": {
        "en": "{field}: {value!r} is not a case id (as events_query's case_id)",
        "sl": "{field}: »{value}« ni številka zadeve v VOPI",
        "it": "{field}: «{value}» non è un numero di pratica in VOPI",
    },
    "time.invalid": {
        "en": "{field}: {value!r} is not a time; use 2026-03-01, 2026-03-01 14:30, an ISO 8601 time with zone, or 30m / 2h / 7d / 1w before now",
        "sl": "{field}: »{value}« ni veljaven čas; vpišite npr. 2026-03-01, 2026-03-01 14:30, čas ISO 8601 s časovnim pasom ali 30m / 2h / 7d / 1w pred zdajšnjim trenutkom",
        "it": "{field}: «{value}» non è un'ora valida; scrivete ad es. 2026-03-01, 2026-03-01 14:30, un'ora ISO 8601 con fuso orario oppure 30m / 2h / 7d / 1w fa",
    },
    "time.future": {
        "en": "{field}: {value!r} is in the future",
        "sl": "{field}: »{value}« je v prihodnosti",
        "it": "{field}: «{value}» è nel futuro",
    },
    "time.range_empty": {
        "en": "{until} must be later than {since}: nothing is in between",
        "sl": "»{until}« mora biti pozneje kot »{since}«, sicer vmes ni ničesar",
        "it": "«{until}» deve essere più tardi di «{since}», altrimenti non c'è nulla in mezzo",
    },
    # ---- a subscription as a whole ----
    "subscriber.no_channel": {
        "en": "a subscriber needs at least one channel: e-mail and/or phone",
        "sl": "naročnik potrebuje vsaj en kanal: e-pošto in/ali mobilni telefon",
        "it": "l'iscritto ha bisogno di almeno un canale: e-mail e/o cellulare",
    },
    "subscriber.no_reference": {
        "en": "a written application needs its document reference",
        "sl": "pri pisni vlogi je obvezna številka dokumenta",
        "it": "per la domanda scritta è obbligatorio il numero del documento",
    },
    "subscriber.not_party": {
        "en": "party {party} is not a party of case(s) {cases} in VOPI",
        "sl": "stranka {party} v VOPI ni stranka zadev {cases}",
        "it": "la parte {party} in VOPI non è parte delle pratiche {cases}",
    },
    "subscriber.already": {
        "en": "party {party} is already subscribed (subscriber {id}); {hint}",
        "sl": "stranka {party} je že naročena (naročnik {id}); {hint}",
        "it": "la parte {party} è già iscritta (iscritto {id}); {hint}",
    },
    "subscriber.changed_meanwhile": {
        "en": "subscriber {id} was changed or removed meanwhile; {hint}",
        "sl": "naročnika {id} je medtem nekdo spremenil ali odjavil; {hint}",
        "it": "l'iscritto {id} è stato nel frattempo modificato o rimosso; {hint}",
    },
    "subscriber.removed_meanwhile": {
        "en": "subscriber {id} was removed meanwhile",
        "sl": "naročnik {id} je bil medtem odstranjen",
        "it": "l'iscritto {id} è stato nel frattempo rimosso",
    },
    "vopi.cases_unchecked": {
        "en": "cannot check the cases in VOPI ({error}); nothing was written",
        "sl": "zadev v VOPI ni mogoče preveriti ({error}); nič ni bilo zapisano",
        "it": "non è possibile verificare le pratiche in VOPI ({error}); non è stato scritto nulla",
    },
    "import.meanwhile": {
        "en": "party {party} subscribed meanwhile",
        "sl": "stranka {party} je bila medtem naročena",
        "it": "la parte {party} è stata iscritta nel frattempo",
    },
    # ---- what to do about it: the CLI's and the console's words ----
    "hint.change_cli": {
        "en": "change it with `obvo subscribers update --party {party} …`",
        "sl": "naročnino spremenite z ukazom `obvo subscribers update --party {party} …`",
        "it": "modificate l'iscrizione con `obvo subscribers update --party {party} …`",
    },
    "hint.change_console": {
        "en": "change it on its page (Naročniki → the subscriber)",
        "sl": "naročnino spremenite na strani naročnika (Naročniki → naročnik)",
        "it": "modificate l'iscrizione sulla pagina dell'iscritto (Iscritti → l'iscritto)",
    },
    "hint.import_change_cli": {
        "en": "change it with `obvo subscribers update`",
        "sl": "naročnino spremenite z ukazom `obvo subscribers update`",
        "it": "modificate l'iscrizione con `obvo subscribers update`",
    },
    "hint.import_change_console": {
        "en": "change it on its page",
        "sl": "naročnino spremenite na strani naročnika",
        "it": "modificate l'iscrizione sulla pagina dell'iscritto",
    },
    "hint.retry_cli": {
        "en": "run the command again",
        "sl": "ponovite ukaz",
        "it": "ripetete il comando",
    },
    "hint.retry_console": {
        "en": "open it again and repeat the change",
        "sl": "odprite stran znova in ponovite spremembo",
        "it": "riaprite la pagina e ripetete la modifica",
    },
    # ---- the outbox: retry, cancel, held notifications ----
    "outbox.status": {
        "en": "{field} must be one of {statuses}, not {value!r}",
        "sl": "{field}: mora biti ena od vrednosti {statuses}, ne »{value}«",
        "it": "{field}: deve essere uno tra {statuses}, non «{value}»",
    },
    "outbox.no_notification": {
        "en": "no notification with id {id}",
        "sl": "obvestila z id {id} ni",
        "it": "non c'è nessuna notifica con id {id}",
    },
    "outbox.not_cancellable": {
        "en": "notification {id} is {status}; only pending, held or failed notifications can be cancelled",
        "sl": "obvestilo {id} je v stanju {status}; preklicati je mogoče le čakajoča, zadržana ali neuspešna obvestila",
        "it": "la notifica {id} è nello stato {status}; si possono annullare solo le notifiche in attesa, trattenute o non riuscite",
    },
    "outbox.cancel_meanwhile": {
        "en": "notification {id} changed meanwhile; nothing cancelled",
        "sl": "obvestilo {id} se je medtem spremenilo; nič ni bilo preklicano",
        "it": "la notifica {id} è cambiata nel frattempo; non è stato annullato nulla",
    },
    "held.unknown_type": {
        "en": "{field} {code}: no such event type in the rules (known: {known}); nothing changed",
        "sl": "{field} {code}: te vrste dogodka v pravilih ni (znane so: {known}); nič se ni spremenilo",
        "it": "{field} {code}: questo tipo di evento non è nelle regole (quelli noti: {known}); non è cambiato nulla",
    },
    "held.no_types": {"en": "none", "sl": "nobena", "it": "nessuno"},
    "retry.refused": {
        "en": "notification {id} cannot be retried: {problem}",
        "sl": "obvestila {id} ni mogoče poslati znova: {problem}",
        "it": "la notifica {id} non può essere inviata di nuovo: {problem}",
    },
    "retry.not_retried": {
        "en": "notification {id}: not retried: {problem}",
        "sl": "obvestilo {id} ni bilo poslano znova: {problem}",
        "it": "la notifica {id} non è stata inviata di nuovo: {problem}",
    },
    "retry.sending": {
        "en": "it is being sent right now",
        "sl": "prav zdaj se pošilja",
        "it": "è in corso di invio proprio ora",
    },
    "retry.sent": {
        "en": "it was sent already",
        "sl": "je že bilo poslano",
        "it": "è già stata inviata",
    },
    "retry.delivered": {
        "en": "it was delivered already",
        "sl": "je že bilo dostavljeno",
        "it": "è già stata recapitata",
    },
    "retry.undelivered": {
        "en": "it was sent; the network reported it undelivered",
        "sl": "bilo je poslano; omrežje je sporočilo, da ni bilo dostavljeno",
        "it": "è stata inviata; la rete l'ha segnalata come non recapitata",
    },
    "retry.held": {
        "en": "it is held: decide with `obvo notifications release --event-type CODE`",
        "sl": "je zadržano: o njem odločite na strani zadržanih obvestil (ali z ukazom `obvo notifications release --event-type CODE`)",
        "it": "è trattenuta: decidete sulla pagina delle notifiche trattenute (o con `obvo notifications release --event-type CODE`)",
    },
    "retry.coalesced": {
        "en": "its event went out in another notification's message",
        "sl": "njegov dogodek je bil sporočen v drugem obvestilu",
        "it": "il suo evento è stato comunicato in un'altra notifica",
    },
    "retry.status": {
        "en": "its status is {status}",
        "sl": "njegovo stanje je {status}",
        "it": "il suo stato è {status}",
    },
    "retry.no_subscriber": {
        "en": "its subscriber was removed or erased",
        "sl": "njegov naročnik je bil odjavljen ali izbrisan",
        "it": "il suo iscritto è stato rimosso o cancellato",
    },
    "retry.no_email": {
        "en": "subscriber {id} has no e-mail address any more",
        "sl": "naročnik {id} nima več e-poštnega naslova",
        "it": "l'iscritto {id} non ha più un indirizzo e-mail",
    },
    "retry.no_phone": {
        "en": "subscriber {id} has no phone number any more",
        "sl": "naročnik {id} nima več telefonske številke",
        "it": "l'iscritto {id} non ha più un numero di telefono",
    },
    "retry.no_event": {
        "en": "event {event} is no longer in VOPI",
        "sl": "dogodka {event} ni več v VOPI",
        "it": "l'evento {event} non è più in VOPI",
    },
    "retry.no_rule": {
        "en": "event type {code} has no rule any more",
        "sl": "vrsta dogodka {code} nima več pravila",
        "it": "il tipo di evento {code} non ha più una regola",
    },
    "retry.internal": {
        "en": "event type {code} is internal now; cancel it instead",
        "sl": "vrsta dogodka {code} je zdaj notranja; obvestilo raje prekličite",
        "it": "il tipo di evento {code} ora è interno; annullate invece la notifica",
    },
    "retry.cannot_render": {
        "en": "still cannot render: event type {code}: {problem}",
        "sl": "besedila še vedno ni mogoče izpisati: vrsta dogodka {code}: {problem}",
        "it": "il testo non può ancora essere reso: tipo di evento {code}: {problem}",
    },
    "retry.changed_meanwhile": {
        "en": "its status changed meanwhile",
        "sl": "njegovo stanje se je medtem spremenilo",
        "it": "il suo stato è cambiato nel frattempo",
    },
    # ---- the console's staff ----
    "staff.role": {
        "en": "{field} must be one of {roles}, not {value!r}",
        "sl": "{field}: mora biti ena od vrednosti {roles}, ne »{value}«",
        "it": "{field}: deve essere uno tra {roles}, non «{value}»",
    },
    "staff.name_empty": {
        "en": "{field} must not be empty: the staff member's name as on the badge",
        "sl": "{field}: polje ne sme biti prazno; vpišite ime zaposlenega, kot je na izkaznici",
        "it": "{field}: il campo non può essere vuoto; scrivete il nome del dipendente come sul tesserino",
    },
    "staff.name_text": {
        "en": "{field} must be a printable name of at most 200 characters",
        "sl": "{field}: mora biti ime brez kontrolnih znakov, dolgo največ 200 znakov",
        "it": "{field}: deve essere un nome senza caratteri di controllo, di al massimo 200 caratteri",
    },
    "staff.revoked": {
        "en": "staff member {id} ({name}) is revoked; grant again",
        "sl": "zaposlenemu {id} ({name}) je bil dostop odvzet; dostop mu dodelite znova",
        "it": "al dipendente {id} ({name}) è stato revocato l'accesso; concedeteglielo di nuovo",
    },
    "staff.unknown": {
        "en": "no staff member with id {id}",
        "sl": "zaposlenega z id {id} ni",
        "it": "non c'è nessun dipendente con id {id}",
    },
    "staff.already_revoked": {
        "en": "staff member {id} ({name}) is already revoked",
        "sl": "zaposlenemu {id} ({name}) je bil dostop že odvzet",
        "it": "al dipendente {id} ({name}) l'accesso è già stato revocato",
    },
    # ---- the CSV import ----
    "csv.column": {"en": "column {column}", "sl": "stolpec {column}", "it": "colonna {column}"},
    "csv.party": {"en": "party {party}", "sl": "stranka {party}", "it": "parte {party}"},
    "csv.not_utf8": {
        "en": "{name}: line {line}: not UTF-8 text (byte {byte}); save the file as CSV UTF-8",
        "sl": "{name}, vrstica {line}: besedilo ni v kodiranju UTF-8 (bajt {byte}); datoteko shranite kot »CSV UTF-8«",
        "it": "{name}, riga {line}: il testo non è in UTF-8 (byte {byte}); salvate il file come «CSV UTF-8»",
    },
    "csv.no_header": {
        "en": "{name}: line 1: the header row is missing ({columns})",
        "sl": "{name}, vrstica 1: manjka vrstica z imeni stolpcev ({columns})",
        "it": "{name}, riga 1: manca la riga di intestazione ({columns})",
    },
    "csv.header_syntax": {
        "en": "{name}: line 1: {detail}",
        "sl": "{name}, vrstica 1: ni veljaven CSV",
        "it": "{name}, riga 1: CSV non valido",
    },
    "csv.header": {
        "en": "{name}: line 1 (header): {problems}",
        "sl": "{name}, vrstica 1 (imena stolpcev): {problems}",
        "it": "{name}, riga 1 (intestazione): {problems}",
    },
    "csv.unknown_columns": {
        "en": "unknown column(s) {columns} (known: {known})",
        "sl": "neznani stolpci {columns} (znani so: {known})",
        "it": "colonne sconosciute {columns} (quelle note: {known})",
    },
    "csv.columns_twice": {
        "en": "column(s) {columns} more than once",
        "sl": "stolpci {columns} so navedeni večkrat",
        "it": "le colonne {columns} compaiono più volte",
    },
    "csv.column_missing": {
        "en": "the column {column} is missing",
        "sl": "manjka stolpec {column}",
        "it": "manca la colonna {column}",
    },
    "csv.no_channel_column": {
        "en": "a column email or phone (or both) is needed",
        "sl": "potreben je stolpec email ali phone (ali oba)",
        "it": "serve una colonna email o phone (o entrambe)",
    },
    "csv.syntax": {
        "en": "not valid CSV: {detail}",
        "sl": "ni veljaven CSV",
        "it": "CSV non valido",
    },
    "csv.cell_count": {
        "en": "{cells} cell(s), but the header has {header}",
        "sl": "število celic v vrstici je {cells}, stolpcev v glavi pa {header}",
        "it": "la riga ha {cells} celle, ma l'intestazione ne ha {header}",
    },
    "csv.party_twice": {
        "en": "party {party} is also on line {line}",
        "sl": "stranka {party} je tudi v vrstici {line}",
        "it": "la parte {party} è anche nella riga {line}",
    },
    # ---- the rules file ----
    "rules.entry": {
        "en": "event_types #{index}",
        "sl": "event_types št. {index}",
        "it": "event_types n. {index}",
    },
    "rules.event_type": {
        "en": "event type {code}",
        "sl": "vrsta dogodka {code}",
        "it": "tipo di evento {code}",
    },
    "rules.language": {
        "en": "{where}, language {language!r}",
        "sl": "{where}, jezik »{language}«",
        "it": "{where}, lingua «{language}»",
    },
    "part.email_subject": {
        "en": "email_subject",
        "sl": "Zadeva e-pošte",
        "it": "Oggetto dell'e-mail",
    },
    "part.email_body": {"en": "email_body", "sl": "Besedilo e-pošte", "it": "Testo dell'e-mail"},
    "part.sms": {"en": "sms", "sl": "SMS", "it": "SMS"},
    "part.email_html": {"en": "email_html", "sl": "E-pošta HTML", "it": "E-mail HTML"},
    "kind.internal": {"en": "internal", "sl": "notranji", "it": "interno"},
    "kind.notify": {"en": "notify", "sl": "obvestilo", "it": "notifica"},
    "kind.key": {"en": "key", "sl": "ključni", "it": "chiave"},
    "rules.unknown_top": {
        "en": "unknown top-level key(s): {keys}",
        "sl": "neznani ključi na najvišji ravni: {keys}",
        "it": "chiavi sconosciute al livello più alto: {keys}",
    },
    "rules.not_array": {
        "en": "'event_types' must be an array of tables ([[event_types]])",
        "sl": "»event_types« mora biti seznam tabel ([[event_types]])",
        "it": "«event_types» deve essere un array di tabelle ([[event_types]])",
    },
    "rules.not_table": {
        "en": "must be a table",
        "sl": "mora biti tabela",
        "it": "deve essere una tabella",
    },
    "rules.twice": {
        "en": "defined more than once",
        "sl": "je določena večkrat",
        "it": "è definito più volte",
    },
    "rules.unknown_keys": {
        "en": "unknown key(s) {keys}",
        "sl": "neznani ključi {keys}",
        "it": "chiavi sconosciute {keys}",
    },
    "rules.code": {
        "en": "'code' must be a non-empty text without surrounding spaces",
        "sl": "»code« mora biti neprazno besedilo brez presledkov na začetku in koncu",
        "it": "«code» deve essere un testo non vuoto senza spazi all'inizio e alla fine",
    },
    "rules.name": {
        "en": "'name' must be text",
        "sl": "»name« mora biti besedilo",
        "it": "«name» deve essere un testo",
    },
    "rules.unknown_kind": {
        "en": "unknown kind {value} (must be internal, notify or key)",
        "sl": "neznana vrsta obveščanja {value} (mora biti internal, notify ali key)",
        "it": "tipo di notifica sconosciuto {value} (deve essere internal, notify o key)",
    },
    "rules.templates_not_table": {
        "en": "'templates' must be a table of languages",
        "sl": "»templates« mora biti tabela jezikov",
        "it": "«templates» deve essere una tabella di lingue",
    },
    "rules.language_code": {
        "en": "a language is a two-letter lower-case code (sl, it, …)",
        "sl": "jezik je dvočrkovna oznaka z malimi črkami (sl, it, …)",
        "it": "la lingua è un codice di due lettere minuscole (sl, it, …)",
    },
    "rules.parts_table": {
        "en": "must be a table with {parts}",
        "sl": "mora biti tabela s ključi {parts}",
        "it": "deve essere una tabella con {parts}",
    },
    "rules.unknown_parts": {
        "en": "unknown template key(s) {keys}",
        "sl": "neznani ključi predlog {keys}",
        "it": "chiavi di modello sconosciute {keys}",
    },
    "rules.part_missing": {
        "en": "missing template '{part}'",
        "sl": "manjka predloga »{part}«",
        "it": "manca il modello «{part}»",
    },
    "rules.part_not_text": {
        "en": "template '{part}' must be text",
        "sl": "predloga »{part}« mora biti besedilo",
        "it": "il modello «{part}» deve essere un testo",
    },
    "rules.part_invalid": {
        "en": "template '{part}': {problem}",
        "sl": "predloga »{part}«: {problem}",
        "it": "modello «{part}»: {problem}",
    },
    "rules.html_not_text": {
        "en": "template 'email_html' must be text (or left out)",
        "sl": "predloga »E-pošta HTML« mora biti besedilo (ali pa je ni)",
        "it": "il modello «E-mail HTML» deve essere un testo (oppure mancare)",
    },
    "rules.needs_slovenian": {
        "en": "kind {kind} needs Slovenian templates ([event_types.templates.{language}] with {parts})",
        "sl": "vrsta obveščanja »{kind}« potrebuje slovenske predloge ([event_types.templates.{language}] s ključi {parts})",
        "it": "il tipo di notifica «{kind}» richiede i modelli in sloveno ([event_types.templates.{language}] con {parts})",
    },
    "rules.not_toml": {
        "en": "{name}: not valid TOML: {detail}",
        "sl": "{name}: ni veljaven TOML",
        "it": "{name}: TOML non valido",
    },
    "rules.not_utf8": {
        "en": "{name}: not UTF-8 text (byte {byte})",
        "sl": "{name}: besedilo ni v kodiranju UTF-8 (bajt {byte})",
        "it": "{name}: il testo non è in UTF-8 (byte {byte})",
    },
    # ---- SMS length, previews ----
    "sms.too_long": {
        "en": "event type {code}, language {language}: the SMS rendered with sample values needs {parts} parts ({encoding}, {characters} characters), more than [sms] max_segments = {max}; longer texts are shortened with an ellipsis",
        "sl": "vrsta dogodka {code}, jezik {language}: SMS z vzorčnimi vrednostmi potrebuje več delov, kot jih dovoli [sms] max_segments = {max} (delov: {parts}, {encoding}, znakov: {characters}); daljša besedila se skrajšajo s tropičjem",
        "it": "tipo di evento {code}, lingua {language}: l'SMS reso con valori di esempio richiede più parti di quante ne consenta [sms] max_segments = {max} (parti: {parts}, {encoding}, caratteri: {characters}); i testi più lunghi vengono accorciati con i puntini di sospensione",
    },
    "sms.too_long_ucs2": {
        "en": "{warning} (č, š, ž make it UCS-2: 70 characters per part; [sms] transliterate = true keeps GSM-7)",
        "sl": "{warning} (č, š, ž zahtevajo UCS-2: 70 znakov na del; [sms] transliterate = true ohrani GSM-7)",
        "it": "{warning} (č, š, ž richiedono UCS-2: 70 caratteri per parte; [sms] transliterate = true mantiene GSM-7)",
    },
    "sms.shortened": {
        "en": "the text needs {segments} segments, more than [sms] max_segments = {max}: it is shortened",
        "sl": "besedilo potrebuje več delov, kot jih dovoli [sms] max_segments = {max} (delov: {segments}), zato se skrajša",
        "it": "il testo richiede più parti di quante ne consenta [sms] max_segments = {max} (parti: {segments}), quindi viene accorciato",
    },
    "sms.transliterated": {
        "en": "transliterated to GSM-7 ([sms] transliterate = true)",
        "sl": "prečrkovano v GSM-7 ([sms] transliterate = true)",
        "it": "traslitterato in GSM-7 ([sms] transliterate = true)",
    },
    "preview.vopi_unreadable": {
        "en": "VOPI could not be read ({detail}); sample values used instead, with the columns the templates name (their types unknown)",
        "sl": "VOPI ni bilo mogoče prebrati ({detail}); namesto tega so uporabljene vzorčne vrednosti stolpcev, ki jih navajajo predloge (njihovi tipi niso znani)",
        "it": "non è stato possibile leggere VOPI ({detail}); al suo posto sono usati valori di esempio per le colonne nominate dai modelli (i loro tipi non sono noti)",
    },
    "preview.catalogue_unreadable": {
        "en": "VOPI's catalogue could not be read: {detail}",
        "sl": "kataloga vrst dogodkov VOPI ni bilo mogoče prebrati ({detail})",
        "it": "non è stato possibile leggere il catalogo dei tipi di evento di VOPI ({detail})",
    },
    # ---- the health verdict (`obvo status`, the console's overview) ----
    "health.vopi_unreadable": {
        "en": "VOPI cannot be read, so the lag is unknown: {error}",
        "sl": "VOPI ni mogoče brati, zato zaostanek ni znan ({error})",
        "it": "VOPI non può essere letto, quindi il ritardo non è noto ({error})",
    },
    "health.lag": {
        "en": "lag {seconds} s ({events} event(s) not read) is over [health] max_lag_seconds = {max}",
        "sl": "zaostanek {seconds} s (neprebranih dogodkov: {events}) presega [health] max_lag_seconds = {max}",
        "it": "il ritardo di {seconds} s (eventi non letti: {events}) supera [health] max_lag_seconds = {max}",
    },
    "health.failed": {
        "en": "{count} notification(s) failed in the last {window} s, over [health] max_failed = {max} (see `obvo status`, the log's notification.failed lines)",
        "sl": "neuspešnih obvestil v zadnjih {window} s: {count}, več kot [health] max_failed = {max} (glejte `obvo status` in vrstice notification.failed v dnevniku)",
        "it": "notifiche non riuscite negli ultimi {window} s: {count}, più di [health] max_failed = {max} (vedete `obvo status` e le righe notification.failed del registro)",
    },
    "health.worker_config": {
        "en": "worker {id} meets a configuration error (messages wait, none fails for it): {problem}",
        "sl": "proces {id} je naletel na napako v nastavitvah (obvestila čakajo, nobeno zaradi nje ne spodleti): {problem}",
        "it": "il processo {id} ha un errore di configurazione (le notifiche attendono, nessuna fallisce per questo): {problem}",
    },
    "health.no_daemon": {
        "en": "no obvo daemon is running (no worker has registered a heartbeat)",
        "sl": "noben proces obvo ne teče (noben se ni javil s srčnim utripom)",
        "it": "nessun processo obvo è in esecuzione (nessuno ha registrato un battito)",
    },
    "health.stale": {
        "en": "no live obvo daemon: the newest heartbeat is {age} s old, over [health] max_heartbeat_age = {max}",
        "sl": "noben proces obvo ni živ: zadnji srčni utrip je star {age} s, več kot [health] max_heartbeat_age = {max}",
        "it": "nessun processo obvo attivo: il battito più recente risale a {age} s fa, più di [health] max_heartbeat_age = {max}",
    },
    # ---- templates ----
    "template.syntax": {
        "en": "syntax error on line {line}: {detail}",
        "sl": "skladenjska napaka v vrstici {line} ({detail})",
        "it": "errore di sintassi alla riga {line} ({detail})",
    },
    "template.undefined": {
        "en": "undefined value: {detail}",
        "sl": "vrednost ni določena ({detail})",
        "it": "valore non definito ({detail})",
    },
    "template.failed": {
        "en": "{kind}: {detail}",
        "sl": "predloge ni mogoče izpisati ({kind}: {detail})",
        "it": "il modello non può essere reso ({kind}: {detail})",
    },
    "template.filter_date": {
        "en": "filter 'date' needs a date or time, not {type}",
        "sl": "filter »date« potrebuje datum ali čas, ne {type}",
        "it": "il filtro «date» richiede una data o un'ora, non {type}",
    },
    "template.filter_time": {
        "en": "filter '{filter}' needs a time, not {type}",
        "sl": "filter »{filter}« potrebuje čas, ne {type}",
        "it": "il filtro «{filter}» richiede un'ora, non {type}",
    },
    "template.no_slovenian": {
        "en": "event type {code} has no Slovenian templates",
        "sl": "vrsta dogodka {code} nima slovenskih predlog",
        "it": "il tipo di evento {code} non ha modelli in sloveno",
    },
    "template.empty": {
        "en": "template {part} is empty",
        "sl": "predloga »{part}« je prazna",
        "it": "il modello «{part}» è vuoto",
    },
    "template.in_part": {
        "en": "template {part}: {problem}",
        "sl": "predloga »{part}«: {problem}",
        "it": "modello «{part}»: {problem}",
    },
}
