# ruff: noqa: E501 - whole sentences read and translate best unbroken
"""Every text the portal shows a person, in Slovenian (the default) and Italian.

Koper, Izola and Piran are bilingual municipalities: both languages are complete; a unit test
checks that they have the same keys and placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping

from vopi_obvo.web import language
from vopi_obvo.web.language import DEFAULT, LANGUAGES, from_accept_language, pick_language

__all__ = ["DEFAULT", "LANGUAGES", "TEXTS", "Translator", "from_accept_language", "pick_language"]

TEXTS: Mapping[str, Mapping[str, str]] = {
    "sl": {
        "site_name": "Obvestila o vlogah",
        "skip": "Preskoči na vsebino",
        "language_name": "Slovenščina",
        "nav_label": "Glavni meni",
        "nav_home": "Moja obvestila",
        "nav_settings": "Nastavitve",
        "nav_unsubscribe": "Odjava od obvestil",
        "sign_out": "Izpis",
        "footer": "Obvestila o poteku vaših upravnih zadev po e-pošti in SMS.",
        # landing and refusals
        "landing_title": "Prijava s kvalificiranim digitalnim potrdilom",
        "landing_text": (
            "Za urejanje obvestil se prijavite s kvalificiranim digitalnim potrdilom "
            "(SIGEN-CA, SIGOV-CA, POSTArCA, Halcom ali NLB). Brskalnik vas bo vprašal, "
            "katero potrdilo naj uporabi."
        ),
        "landing_help": (
            "Če vas brskalnik ni vprašal za potrdilo, preverite, ali je potrdilo nameščeno, "
            "zaprite vsa okna brskalnika in poskusite znova."
        ),
        "refused_title": "Prijava ni mogoča",
        "refused_untrusted_proxy": (
            "Zahteva ni prišla prek strežnika občine, ki preverja digitalna potrdila. "
            "Odprite stran na njenem uradnem naslovu."
        ),
        "refused_malformed": "Vašega digitalnega potrdila ni bilo mogoče prebrati.",
        "refused_unknown_issuer": (
            "Vaše digitalno potrdilo ni izdal izdajatelj, ki ga občina sprejema. Uporabite "
            "kvalificirano potrdilo izdajateljev SIGEN-CA, SIGOV-CA, POSTArCA, Halcom ali NLB."
        ),
        "refused_expired": (
            "Vaše digitalno potrdilo je poteklo. Uporabite veljavno potrdilo ali pri izdajatelju "
            "pridobite novo."
        ),
        "refused_not_yet_valid": "Vaše digitalno potrdilo še ni veljavno.",
        "refused_no_serial": (
            "Vaše digitalno potrdilo ne vsebuje serijske številke imetnika, zato vas ne moremo "
            "prepoznati. Uporabite kvalificirano potrdilo za fizične osebe."
        ),
        "refused_recorded": "Poskus prijave je zabeležen.",
        "refused_revoked": "Vaše digitalno potrdilo je preklicano. Pri izdajatelju pridobite novo potrdilo.",
        "refused_crl_stale": (
            "Trenutno ne moremo preveriti, ali je vaše digitalno potrdilo preklicano (seznam "
            "preklicanih potrdil ni svež). Poskusite znova pozneje ali se prijavite prek SI-PASS."
        ),
        "refused_wrong_usage": (
            "Vaše digitalno potrdilo ni namenjeno prijavi (overjanju odjemalca). Uporabite "
            "kvalificirano potrdilo za fizične osebe."
        ),
        "refused_issuer_not_ca": "Izdajatelj vašega digitalnega potrdila ni overitelj, ki ga občina sprejema.",
        "refused_saml_bad_signature": "Odgovora storitve SI-PASS ni bilo mogoče preveriti (podpis ni veljaven).",
        "refused_saml_wrong_audience": "Odgovor storitve SI-PASS ni namenjen tej strani.",
        "refused_saml_wrong_recipient": "Odgovor storitve SI-PASS je bil poslan na drug naslov.",
        "refused_saml_expired": "Prijava prek SI-PASS je potekla. Prijavite se znova.",
        "refused_saml_unsolicited": (
            "Odgovor storitve SI-PASS ne ustreza prijavi, začeti v tem brskalniku. "
            "Začnite prijavo znova na tej strani."
        ),
        "refused_saml_replayed": "Ta prijava prek SI-PASS je bila že uporabljena. Prijavite se znova.",
        "refused_saml_idp_refused": "Storitev SI-PASS prijave ni potrdila.",
        "refused_saml_low_assurance": (
            "Za urejanje obvestil je potrebna višja raven zanesljivosti prijave. Prijavite se s "
            "kvalificiranim potrdilom, osebno izkaznico (eOsebna) ali smsPASS."
        ),
        "refused_saml_no_tax_number": "Storitev SI-PASS ni posredovala vaše davčne številke.",
        "refused_saml_unknown_party": (
            "Z vašo davčno številko v evidenci občine ni vloge ali stranke. Če ste vlogo oddali, "
            "se obrnite na sprejemno pisarno."
        ),
        "refused_saml_invalid": "Odgovora storitve SI-PASS ni bilo mogoče prebrati.",
        "signin_title": "Prijava",
        "signin_certificate": "Prijava z digitalnim potrdilom",
        "signin_sipass": "Prijava prek SI-PASS",
        "signin_sipass_text": (
            "SI-PASS je državna storitev za prijavo z digitalnim potrdilom, osebno izkaznico "
            "(eOsebna) ali smsPASS."
        ),
        "signin_sipass_button": "Prijava prek SI-PASS",
        "too_many_title": "Preveč poskusov",
        "too_many_text": "Poskusov je bilo v kratkem času preveč. Počakajte minuto in poskusite znova.",
        "csrf_title": "Obrazec je potekel",
        "csrf_text": "Obrazec je potekel ali ni bil poslan s te strani. Odprite stran znova in ga pošljite še enkrat.",
        "not_found_title": "Strani ni mogoče najti",
        "not_found_text": "Naslov ne obstaja.",
        "error_title": "Napaka",
        "error_text": "Prišlo je do napake. Poskusite znova čez nekaj minut.",
        "back_home": "Nazaj na moja obvestila",
        "signed_out_title": "Izpisani ste",
        "signed_out_text": (
            "Seja je končana. Če uporabljate skupni računalnik, zaprite vsa okna brskalnika, "
            "da brskalnik pozabi izbrano digitalno potrdilo."
        ),
        # linking a certificate to a party
        "link_title": "Povezava z vašimi vlogami",
        "link_intro": (
            "Pozdravljeni, {name}. To je vaša prva prijava. Da vam pokažemo vaša obvestila, "
            "potrebujemo povezavo z vašimi podatki pri občini."
        ),
        "link_contact_label": "E-naslov ali mobilna številka, ki ste jo že sporočili občini",
        "link_contact_hint": "Nanj vam pošljemo enkratno kodo.",
        "link_submit": "Pošlji kodo",
        "link_sent": (
            "Če je ta naslov ali številka pri občini zabeležena, smo nanj poslali kodo. "
            "Vpišite jo spodaj."
        ),
        "link_none": (
            "Če pri občini še niste naročeni na obvestila, se naročite osebno ali z vlogo v "
            "glavni pisarni; po tem se boste lahko prijavili tukaj."
        ),
        "linked_ok": "Prijava je povezana z vašimi vlogami.",
        "link_ambiguous": (
            "Vaše davčne številke ni bilo mogoče enolično povezati z vašimi vlogami. "
            "Uporabite enkratno kodo ali se obrnite na glavno pisarno."
        ),
        # my notifications
        "home_title": "Moja obvestila",
        "greeting": "Prijavljeni ste kot {name}.",
        "subscription_heading": "Kako vas obveščamo",
        "no_subscription": "Na obvestila še niste naročeni.",
        "subscribe_link": "Naročite se na obvestila",
        "channel_email": "E-pošta",
        "channel_sms": "SMS",
        "channel_off": "ni vklopljeno",
        "key_only_channel": "samo ključni dogodki (odjava prek povezave v e-pošti)",
        "level_label": "Katere dogodke",
        "level_all": "Vse dogodke",
        "level_key": "Samo ključne dogodke",
        "language_label": "Jezik obvestil",
        "lang_sl": "slovenščina",
        "lang_it": "italijanščina",
        "key_heading": "Ključni dogodki",
        "key_text": (
            "O ključnih dogodkih vas obveščamo vedno, ne glede na nastavitve, dokler ste naročeni:"
        ),
        "key_none": "Občina še ni določila ključnih dogodkov.",
        "history_heading": "Poslana obvestila v zadnjih {days} dneh",
        "history_empty": "V tem obdobju vam nismo poslali nobenega obvestila.",
        "col_time": "Čas",
        "col_channel": "Kanal",
        "col_event": "Dogodek",
        "col_case": "Zadeva",
        "col_message": "Sporočilo",
        "col_status": "Stanje",
        "status_pending": "čaka na pošiljanje",
        "status_sending": "v pošiljanju",
        "status_sent": "poslano",
        "status_delivered": "dostavljeno",
        "status_undelivered": "ni dostavljeno",
        "status_failed": "pošiljanje ni uspelo",
        "status_cancelled": "preklicano",
        "status_held": "zadržano",
        "status_coalesced": "združeno z drugim obvestilom",
        "pending_heading": "Čaka na potrditev",
        "pending_email": "Nov e-naslov {target} začne veljati, ko vpišete kodo, ki smo jo poslali nanj.",
        "pending_phone": "Nova številka {target} začne veljati, ko vpišete kodo, ki smo jo poslali nanjo.",
        "enter_code_link": "Vpišite kodo",
        "saved": "Spremembe so shranjene.",
        # settings
        "settings_title": "Nastavitve obvestil",
        "settings_intro": (
            "Nov e-naslov ali nova številka začne veljati šele, ko vpišete kodo, ki jo pošljemo "
            "nanj, tako da obvestila o vaših zadevah nikoli ne pridejo k napačnemu prejemniku."
        ),
        "channels_legend": "Kanali",
        "email_enabled": "Obveščajte me po e-pošti",
        "sms_enabled": "Obveščajte me s SMS",
        "email_label": "E-naslov",
        "phone_label": "Mobilna številka",
        "phone_hint": "Na primer 041 123 456 ali +386 41 123 456.",
        "level_legend": "Katere dogodke",
        "level_all_hint": "vse dogodke, o katerih občina obvešča",
        "level_key_hint": "samo ključne dogodke (na primer izdano odločbo)",
        "save": "Shrani",
        "error_heading": "Obrazca ni bilo mogoče shraniti",
        "err_no_channel": "Izberite vsaj en kanal: e-pošto ali SMS. Za odjavo od vseh obvestil uporabite stran Odjava.",
        "err_email_required": "Vpišite e-naslov ali izklopite obveščanje po e-pošti.",
        "err_phone_required": "Vpišite mobilno številko ali izklopite obveščanje s SMS.",
        "err_email_invalid": "E-naslov ni veljaven.",
        "err_phone_invalid": "Številka ni veljavna mobilna številka (na primer 041 123 456).",
        "err_level": "Izberite, o katerih dogodkih vas obveščamo.",
        "err_language": "Izberite jezik obvestil.",
        "err_consent": "Za naročilo potrebujemo vaše soglasje.",
        "err_send_code": "Kode ni bilo mogoče poslati. Poskusite znova čez nekaj minut.",
        "err_code_limit": "V zadnji uri smo vam poslali že {n} kod. Poskusite znova pozneje.",
        # confirmation codes
        "confirm_title": "Potrditev s kodo",
        "confirm_intro": "Kodo smo poslali na {target}. Velja {minutes} minut.",
        "code_label": "Koda (6 številk)",
        "confirm_submit": "Potrdi",
        "resend": "Pošlji novo kodo",
        "confirm_none": "Nobena sprememba ne čaka na potrditev.",
        "code_wrong": "Koda ni pravilna. Preostali poskusi: {left}.",
        "code_expired": "Koda je potekla. Zahtevajte novo kodo.",
        "code_locked": "Preveč napačnih poskusov: koda ne velja več. Zahtevajte novo kodo.",
        "code_confirmed_email": "E-naslov je potrjen.",
        "code_confirmed_phone": "Mobilna številka je potrjena.",
        "code_sms": "Obvestila o vlogah: vasa koda je {code}. Velja {minutes} min. Ce je niste zahtevali, sporocilo prezrite.",
        "code_email_subject": "Koda za potrditev: {code}",
        "code_email_body": (
            "Pozdravljeni,\n\nvaša koda za potrditev e-naslova v portalu Obvestila o vlogah je "
            "{code}. Velja {minutes} minut.\n\nČe kode niste zahtevali, to sporočilo prezrite."
        ),
        "link_email_body": (
            "Pozdravljeni,\n\nvaša koda za povezavo digitalnega potrdila z obvestili o vlogah je "
            "{code}. Velja {minutes} minut.\n\nČe kode niste zahtevali, to sporočilo prezrite."
        ),
        "link_sms": "Obvestila o vlogah: koda za povezavo potrdila je {code}. Velja {minutes} min.",
        # the subscription form, for e-vloga
        "subscribe_title": "Naročilo na obvestila o vlogah",
        "subscribe_intro": (
            "Občina vas bo po e-pošti ali s SMS obveščala o poteku vaših zadev (vlog), v katerih "
            "ste stranka."
        ),
        "consent_heading": "Soglasje",
        "consent_text": (
            "Soglašam, da občina za obveščanje o poteku mojih upravnih zadev obdeluje moj "
            "e-naslov in mojo mobilno številko ter mi nanju pošilja obvestila. Soglasje lahko "
            "kadar koli prekličem na tej strani (Odjava od obvestil); ključna obvestila pa "
            "prejemam, dokler sem naročen."
        ),
        "consent_label": "Soglašam z zgornjim besedilom",
        "subscribe_submit": "Naroči me",
        "subscribe_exists": "Na obvestila ste že naročeni.",
        "subscribe_pending": "Naročilo začne veljati, ko vpišete kodo, ki smo vam jo poslali.",
        # unsubscribe
        "unsub_title": "Odjava od obvestil",
        "unsub_key_text": (
            "Ključnih dogodkov (na primer izdane odločbe) ni mogoče izklopiti, dokler ste "
            "naročeni: o njih vas obveščamo vedno. Lahko pa izberete samo ključne dogodke "
            "ali se odjavite od vseh obvestil."
        ),
        "unsub_key_only": "Obveščajte me samo o ključnih dogodkih",
        "unsub_all": "Odjavi me od vseh obvestil",
        "unsub_all_warning": "Po odjavi od vseh obvestil ne boste prejemali niti ključnih obvestil.",
        "unsub_done": "Odjavljeni ste od vseh obvestil. Ponovno se lahko naročite kadar koli.",
        "unsub_none": "Na obvestila niste naročeni.",
        "list_unsub_title": "Odjava od obvestil po e-pošti",
        "list_unsub_text": (
            "Po e-pošti vam ne bomo več pošiljali obvestil o običajnih dogodkih. O ključnih "
            "dogodkih (na primer izdani odločbi) vas bomo še naprej obveščali, dokler ste "
            "naročeni, kot določajo pravila občine. Vse nastavitve lahko spremenite na portalu."
        ),
        "list_unsub_button": "Potrdi odjavo",
        "list_unsub_done": (
            "Po e-pošti ne boste več prejemali obvestil o običajnih dogodkih; ključna obvestila "
            "boste še naprej prejemali."
        ),
        "list_unsub_invalid": "Povezava za odjavo ni veljavna ali naročilo ne obstaja več.",
    },
    "it": {
        "site_name": "Notifiche sulle istanze",
        "skip": "Vai al contenuto",
        "language_name": "Italiano",
        "nav_label": "Menu principale",
        "nav_home": "Le mie notifiche",
        "nav_settings": "Impostazioni",
        "nav_unsubscribe": "Disdetta delle notifiche",
        "sign_out": "Esci",
        "footer": "Notifiche sull'andamento delle vostre pratiche amministrative per e-mail e SMS.",
        "landing_title": "Accesso con certificato digitale qualificato",
        "landing_text": (
            "Per gestire le notifiche accedete con un certificato digitale qualificato "
            "(SIGEN-CA, SIGOV-CA, POSTArCA, Halcom o NLB). Il browser vi chiederà quale "
            "certificato usare."
        ),
        "landing_help": (
            "Se il browser non vi ha chiesto il certificato, verificate che sia installato, "
            "chiudete tutte le finestre del browser e riprovate."
        ),
        "refused_title": "Accesso non possibile",
        "refused_untrusted_proxy": (
            "La richiesta non è passata per il server del Comune che verifica i certificati "
            "digitali. Aprite la pagina al suo indirizzo ufficiale."
        ),
        "refused_malformed": "Non è stato possibile leggere il vostro certificato digitale.",
        "refused_unknown_issuer": (
            "Il vostro certificato digitale non è stato rilasciato da un emittente accettato dal "
            "Comune. Usate un certificato qualificato di SIGEN-CA, SIGOV-CA, POSTArCA, Halcom o NLB."
        ),
        "refused_expired": (
            "Il vostro certificato digitale è scaduto. Usate un certificato valido o richiedetene "
            "uno nuovo all'emittente."
        ),
        "refused_not_yet_valid": "Il vostro certificato digitale non è ancora valido.",
        "refused_no_serial": (
            "Il vostro certificato digitale non contiene il numero di serie del titolare, quindi "
            "non possiamo identificarvi. Usate un certificato qualificato per persone fisiche."
        ),
        "refused_recorded": "Il tentativo di accesso è stato registrato.",
        "refused_revoked": "Il vostro certificato digitale è stato revocato. Richiedete un nuovo certificato all'emittente.",
        "refused_crl_stale": (
            "Al momento non possiamo verificare se il vostro certificato digitale è revocato "
            "(l'elenco dei certificati revocati non è aggiornato). Riprovate più tardi o accedete tramite SI-PASS."
        ),
        "refused_wrong_usage": (
            "Il vostro certificato digitale non è destinato all'accesso (autenticazione del "
            "client). Usate un certificato qualificato per persone fisiche."
        ),
        "refused_issuer_not_ca": "L'emittente del vostro certificato digitale non è un'autorità di certificazione accettata dal comune.",
        "refused_saml_bad_signature": "Non è stato possibile verificare la risposta di SI-PASS (firma non valida).",
        "refused_saml_wrong_audience": "La risposta di SI-PASS non è destinata a questo sito.",
        "refused_saml_wrong_recipient": "La risposta di SI-PASS è stata inviata a un altro indirizzo.",
        "refused_saml_expired": "L'accesso tramite SI-PASS è scaduto. Accedete di nuovo.",
        "refused_saml_unsolicited": (
            "La risposta di SI-PASS non corrisponde a un accesso iniziato in questo browser. "
            "Iniziate di nuovo l'accesso da questa pagina."
        ),
        "refused_saml_replayed": "Questo accesso tramite SI-PASS è già stato usato. Accedete di nuovo.",
        "refused_saml_idp_refused": "SI-PASS non ha confermato l'accesso.",
        "refused_saml_low_assurance": (
            "Per gestire le notifiche serve un livello di affidabilità dell'accesso più alto. "
            "Accedete con un certificato qualificato, la carta d'identità (eOsebna) o smsPASS."
        ),
        "refused_saml_no_tax_number": "SI-PASS non ha trasmesso il vostro codice fiscale.",
        "refused_saml_unknown_party": (
            "Con il vostro codice fiscale non risulta alcuna pratica o parte presso il comune. "
            "Se avete presentato una domanda, rivolgetevi all'ufficio protocollo."
        ),
        "refused_saml_invalid": "Non è stato possibile leggere la risposta di SI-PASS.",
        "signin_title": "Accesso",
        "signin_certificate": "Accesso con certificato digitale",
        "signin_sipass": "Accesso tramite SI-PASS",
        "signin_sipass_text": (
            "SI-PASS è il servizio statale di accesso con certificato digitale, carta d'identità "
            "(eOsebna) o smsPASS."
        ),
        "signin_sipass_button": "Accedi tramite SI-PASS",
        "too_many_title": "Troppi tentativi",
        "too_many_text": "Troppi tentativi in poco tempo. Attendete un minuto e riprovate.",
        "csrf_title": "Il modulo è scaduto",
        "csrf_text": "Il modulo è scaduto o non è stato inviato da questa pagina. Riaprite la pagina e inviatelo di nuovo.",
        "not_found_title": "Pagina non trovata",
        "not_found_text": "L'indirizzo non esiste.",
        "error_title": "Errore",
        "error_text": "Si è verificato un errore. Riprovate tra qualche minuto.",
        "back_home": "Torna alle mie notifiche",
        "signed_out_title": "Siete usciti",
        "signed_out_text": (
            "La sessione è terminata. Se usate un computer condiviso, chiudete tutte le finestre "
            "del browser perché dimentichi il certificato scelto."
        ),
        "link_title": "Collegamento con le vostre istanze",
        "link_intro": (
            "Buongiorno, {name}. Questo è il vostro primo accesso. Per mostrarvi le vostre "
            "notifiche dobbiamo collegarvi ai vostri dati presso il Comune."
        ),
        "link_contact_label": "Indirizzo e-mail o numero di cellulare già comunicato al Comune",
        "link_contact_hint": "Vi invieremo un codice monouso.",
        "link_submit": "Invia il codice",
        "link_sent": (
            "Se questo indirizzo o numero è registrato presso il Comune, vi abbiamo inviato un "
            "codice. Inseritelo qui sotto."
        ),
        "link_none": (
            "Se non siete ancora iscritti alle notifiche, iscrivetevi di persona o con una "
            "domanda all'ufficio protocollo; dopo potrete accedere qui."
        ),
        "linked_ok": "L'accesso è collegato alle vostre istanze.",
        "link_ambiguous": (
            "Non è stato possibile collegare in modo univoco il vostro codice fiscale alle vostre "
            "istanze. Usate il codice monouso o rivolgetevi all'ufficio protocollo."
        ),
        "home_title": "Le mie notifiche",
        "greeting": "Avete effettuato l'accesso come {name}.",
        "subscription_heading": "Come vi informiamo",
        "no_subscription": "Non siete ancora iscritti alle notifiche.",
        "subscribe_link": "Iscrivetevi alle notifiche",
        "channel_email": "E-mail",
        "channel_sms": "SMS",
        "channel_off": "non attivo",
        "key_only_channel": "solo eventi chiave (disdetta dal link nell'e-mail)",
        "level_label": "Quali eventi",
        "level_all": "Tutti gli eventi",
        "level_key": "Solo gli eventi chiave",
        "language_label": "Lingua delle notifiche",
        "lang_sl": "sloveno",
        "lang_it": "italiano",
        "key_heading": "Eventi chiave",
        "key_text": (
            "Sugli eventi chiave vi informiamo sempre, indipendentemente dalle impostazioni, "
            "finché siete iscritti:"
        ),
        "key_none": "Il Comune non ha ancora stabilito gli eventi chiave.",
        "history_heading": "Notifiche inviate negli ultimi {days} giorni",
        "history_empty": "In questo periodo non vi abbiamo inviato alcuna notifica.",
        "col_time": "Ora",
        "col_channel": "Canale",
        "col_event": "Evento",
        "col_case": "Pratica",
        "col_message": "Messaggio",
        "col_status": "Stato",
        "status_pending": "in attesa di invio",
        "status_sending": "in invio",
        "status_sent": "inviato",
        "status_delivered": "consegnato",
        "status_undelivered": "non consegnato",
        "status_failed": "invio non riuscito",
        "status_cancelled": "annullato",
        "status_held": "trattenuto",
        "status_coalesced": "unito a un'altra notifica",
        "pending_heading": "In attesa di conferma",
        "pending_email": "Il nuovo indirizzo {target} sarà valido quando inserirete il codice che vi abbiamo inviato.",
        "pending_phone": "Il nuovo numero {target} sarà valido quando inserirete il codice che vi abbiamo inviato.",
        "enter_code_link": "Inserite il codice",
        "saved": "Le modifiche sono state salvate.",
        "settings_title": "Impostazioni delle notifiche",
        "settings_intro": (
            "Un nuovo indirizzo e-mail o numero sarà valido solo dopo che avrete inserito il "
            "codice che vi inviamo, così le notifiche sulle vostre pratiche non arrivano mai al "
            "destinatario sbagliato."
        ),
        "channels_legend": "Canali",
        "email_enabled": "Informatemi per e-mail",
        "sms_enabled": "Informatemi via SMS",
        "email_label": "Indirizzo e-mail",
        "phone_label": "Numero di cellulare",
        "phone_hint": "Per esempio 041 123 456 o +386 41 123 456.",
        "level_legend": "Quali eventi",
        "level_all_hint": "tutti gli eventi di cui il Comune informa",
        "level_key_hint": "solo gli eventi chiave (per esempio una decisione emessa)",
        "save": "Salva",
        "error_heading": "Non è stato possibile salvare il modulo",
        "err_no_channel": "Scegliete almeno un canale: e-mail o SMS. Per disdire tutte le notifiche usate la pagina Disdetta.",
        "err_email_required": "Inserite l'indirizzo e-mail o disattivate le notifiche per e-mail.",
        "err_phone_required": "Inserite il numero di cellulare o disattivate le notifiche via SMS.",
        "err_email_invalid": "L'indirizzo e-mail non è valido.",
        "err_phone_invalid": "Il numero non è un numero di cellulare valido (per esempio 041 123 456).",
        "err_level": "Scegliete su quali eventi informarvi.",
        "err_language": "Scegliete la lingua delle notifiche.",
        "err_consent": "Per l'iscrizione ci serve il vostro consenso.",
        "err_send_code": "Non è stato possibile inviare il codice. Riprovate tra qualche minuto.",
        "err_code_limit": "Nell'ultima ora vi abbiamo già inviato {n} codici. Riprovate più tardi.",
        "confirm_title": "Conferma con codice",
        "confirm_intro": "Abbiamo inviato il codice a {target}. È valido {minutes} minuti.",
        "code_label": "Codice (6 cifre)",
        "confirm_submit": "Conferma",
        "resend": "Invia un nuovo codice",
        "confirm_none": "Nessuna modifica è in attesa di conferma.",
        "code_wrong": "Il codice non è corretto. Tentativi rimasti: {left}.",
        "code_expired": "Il codice è scaduto. Richiedete un nuovo codice.",
        "code_locked": "Troppi tentativi errati: il codice non è più valido. Richiedete un nuovo codice.",
        "code_confirmed_email": "L'indirizzo e-mail è confermato.",
        "code_confirmed_phone": "Il numero di cellulare è confermato.",
        "code_sms": "Notifiche sulle istanze: il vostro codice e {code}. Valido {minutes} min. Se non l'avete richiesto, ignorate il messaggio.",
        "code_email_subject": "Codice di conferma: {code}",
        "code_email_body": (
            "Buongiorno,\n\nil vostro codice per confermare l'indirizzo e-mail nel portale "
            "Notifiche sulle istanze è {code}. È valido {minutes} minuti.\n\nSe non l'avete "
            "richiesto, ignorate questo messaggio."
        ),
        "link_email_body": (
            "Buongiorno,\n\nil vostro codice per collegare il certificato digitale alle notifiche "
            "sulle istanze è {code}. È valido {minutes} minuti.\n\nSe non l'avete richiesto, "
            "ignorate questo messaggio."
        ),
        "link_sms": "Notifiche sulle istanze: codice per collegare il certificato {code}. Valido {minutes} min.",
        "subscribe_title": "Iscrizione alle notifiche sulle istanze",
        "subscribe_intro": (
            "Il Comune vi informerà per e-mail o via SMS sull'andamento delle pratiche "
            "(istanze) in cui siete parte."
        ),
        "consent_heading": "Consenso",
        "consent_text": (
            "Acconsento che il Comune tratti il mio indirizzo e-mail e il mio numero di "
            "cellulare per informarmi sull'andamento delle mie pratiche amministrative e mi "
            "invii notifiche a tali recapiti. Posso revocare il consenso in qualsiasi momento "
            "su questa pagina (Disdetta delle notifiche); le notifiche chiave le ricevo finché "
            "sono iscritto."
        ),
        "consent_label": "Acconsento al testo sopra",
        "subscribe_submit": "Iscrivimi",
        "subscribe_exists": "Siete già iscritti alle notifiche.",
        "subscribe_pending": "L'iscrizione sarà valida quando inserirete il codice che vi abbiamo inviato.",
        "unsub_title": "Disdetta delle notifiche",
        "unsub_key_text": (
            "Gli eventi chiave (per esempio una decisione emessa) non si possono disattivare "
            "finché siete iscritti: su di essi vi informiamo sempre. Potete però scegliere solo "
            "gli eventi chiave o disdire tutte le notifiche."
        ),
        "unsub_key_only": "Informatemi solo sugli eventi chiave",
        "unsub_all": "Disdici tutte le notifiche",
        "unsub_all_warning": "Dopo la disdetta di tutte le notifiche non riceverete nemmeno quelle chiave.",
        "unsub_done": "Avete disdetto tutte le notifiche. Potete iscrivervi di nuovo in qualsiasi momento.",
        "unsub_none": "Non siete iscritti alle notifiche.",
        "list_unsub_title": "Disdetta delle notifiche per e-mail",
        "list_unsub_text": (
            "Non vi invieremo più per e-mail notifiche sugli eventi ordinari. Sugli eventi chiave "
            "(per esempio una decisione emessa) continueremo a informarvi finché siete iscritti, "
            "come stabiliscono le regole del Comune. Tutte le impostazioni si possono cambiare "
            "nel portale."
        ),
        "list_unsub_button": "Conferma la disdetta",
        "list_unsub_done": (
            "Non riceverete più per e-mail notifiche sugli eventi ordinari; le notifiche chiave "
            "continueranno ad arrivare."
        ),
        "list_unsub_invalid": "Il link per la disdetta non è valido o l'iscrizione non esiste più.",
    },
}


class Translator(language.Translator):
    def __init__(self, lang: str) -> None:
        super().__init__(TEXTS, lang)
