"""Generate the independent PII evaluation set (``tests/data/pii_eval.jsonl``), deterministically.

``python -m bench.pii_eval_generate`` rewrites the file from a fixed seed with the pinned Faker
(requirements-dev.txt). Values come from Faker's providers for de_DE, de_AT, de_CH, en_GB, en_US
and es_ES; the sentences around them are written here from how callers and agents actually talk
(greetings, self-introductions, read-back, spelling out, hesitation, speech-to-text in lower case),
not from the detectors' cue lists. Spoken forms (digits read one by one or in pairs, "double four",
spelled-out e-mail addresses, spoken years) are rendered by this script on its own, without any
code from ``callguard.analysis.pii``.

Each line: ``{"id", "locale", "language", "previous", "text", "spans": [[start, end, label], ...]}``.
``previous`` is the turn before (an agent's question) or "". Lines without spans are negatives:
look-alikes (order numbers, amounts, appointment dates, brands, ordinary words that are also names).
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from faker import Faker
from stdnum.de import idnr
from stdnum.iso7064 import mod_11_10

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "pii_eval.jsonl"
SEED = 20261130
#: "today" for every date Faker makes here (its own defaults read the clock, so the set would change
#: a little every day and stop matching the committed file)
REFERENCE_DAY = date(2026, 11, 30)
PER_LOCALE = 200
LOCALES = {"de_DE": "de", "de_AT": "de", "de_CH": "de", "en_GB": "en", "en_US": "en", "es_ES": "es"}

# -- spoken renderings (written for the generator, independent of the detectors) -----------

DE_UNITS = "null eins zwei drei vier fünf sechs sieben acht neun".split()
DE_TEENS = "zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn".split()
DE_TENS = ["", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig"]
EN_UNITS = "zero one two three four five six seven eight nine".split()
EN_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ES_0_29 = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
    "diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro veinticinco veintiséis "
    "veintisiete veintiocho veintinueve"
).split()
ES_TENS = ["", "", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]


def de_pair(n: int) -> str:
    if n < 10:
        return DE_UNITS[n]
    if n < 20:
        return DE_TEENS[n - 10]
    tens, unit = divmod(n, 10)
    if unit == 0:
        return DE_TENS[tens]
    return ("ein" if unit == 1 else DE_UNITS[unit]) + "und" + DE_TENS[tens]


def en_pair(n: int) -> str:
    if n < 10:
        return EN_UNITS[n]
    if n < 20:
        return EN_TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return EN_TENS[tens] + ("" if unit == 0 else "-" + EN_UNITS[unit])


def es_pair(n: int) -> str:
    if n < 30:
        return ES_0_29[n]
    tens, unit = divmod(n, 10)
    return ES_TENS[tens] + ("" if unit == 0 else " y " + ES_0_29[unit])


def de_year(y: int) -> str:
    century, rest = divmod(y, 100)
    if century == 20:
        return "zweitausend" + (de_pair(rest) if rest else "")
    return de_pair(century) + "hundert" + (de_pair(rest) if rest else "")


def en_year(y: int) -> str:
    century, rest = divmod(y, 100)
    if century == 20:
        return "two thousand" + (f" and {en_pair(rest)}" if rest else "")
    return en_pair(century) + " " + (("oh " + EN_UNITS[rest]) if rest < 10 else en_pair(rest))


def es_year(y: int) -> str:
    if y >= 2000:
        return "dos mil" + (f" {es_pair(y - 2000)}" if y > 2000 else "")
    rest = y - 1900
    return "mil novecientos" + (f" {es_pair(rest)}" if rest else "")


def digits_of(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def spoken_digits(rng: random.Random, language: str, digits: str) -> str:
    """A digit string read out as a caller would: one by one, in pairs, with doubles."""
    style = rng.choice(["single", "pairs", "groups"])
    if language == "en":
        words, i = [], 0
        while i < len(digits):
            d = int(digits[i])
            if i + 2 < len(digits) and digits[i] == digits[i + 1] == digits[i + 2] and rng.random() < 0.7:
                words.append("triple " + EN_UNITS[d])
                i += 3
            elif i + 1 < len(digits) and digits[i] == digits[i + 1] and rng.random() < 0.7:
                words.append("double " + ("oh" if d == 0 and rng.random() < 0.5 else EN_UNITS[d]))
                i += 2
            else:
                words.append("oh" if d == 0 and rng.random() < 0.5 else EN_UNITS[d])
                i += 1
            if style != "single" and rng.random() < 0.25:
                words[-1] += ","
        return " ".join(words).rstrip(",")
    unit = DE_UNITS if language == "de" else ES_0_29
    pair = de_pair if language == "de" else es_pair
    if style == "single":
        return " ".join(unit[int(d)] for d in digits)
    head = rng.choice([3, 4])
    parts = [" ".join(unit[int(d)] for d in digits[:head])]
    rest = digits[head:]
    while rest:
        if style == "pairs" and len(rest) >= 2 and rest[0] != "0":
            parts.append(pair(int(rest[:2])))
            rest = rest[2:]
        else:
            size = min(len(rest), rng.choice([2, 3]))
            parts.append(" ".join(unit[int(d)] for d in rest[:size]))
            rest = rest[size:]
    return rng.choice([", ", " "]).join(parts)


def spelled_email(rng: random.Random, language: str, email: str) -> str:
    at = {"de": ["at", "ät"], "en": ["at"], "es": ["arroba"]}[language]
    dot = {"de": "punkt", "en": "dot", "es": "punto"}[language]
    local, domain = email.split("@")
    local = re.sub(r"\.", f" {dot} ", local)
    local = re.sub(
        r"_", " unterstrich " if language == "de" else " underscore " if language == "en" else " guion bajo ", local
    )
    return f"{local} {rng.choice(at)} {domain.replace('.', f' {dot} ')}"


ZW = "\u200b"


def fullwidth(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in value)


def iban_variant(rng: random.Random, iban: str) -> str:
    groups = [iban[i : i + 4] for i in range(0, len(iban), 4)]
    kind = rng.choice(["compact", "grouped", "grouped", "lower", "dashes", "double", "zw", "fullwidth"])
    if kind == "compact":
        return iban
    if kind == "grouped":
        return " ".join(groups)
    if kind == "lower":
        return " ".join(groups).lower()
    if kind == "dashes":
        return "-".join(groups)
    if kind == "double":
        return "  ".join(groups)
    if kind == "zw":
        return ZW.join(groups) if rng.random() < 0.5 else iban[:6] + ZW + iban[6:]
    return fullwidth(" ".join(groups))


def card_variant(rng: random.Random, number: str) -> str:
    kind = rng.choice(["compact", "spaces", "dashes", "dots", "spaces"])
    if kind == "compact":
        return number
    sep = {"spaces": " ", "dashes": "-", "dots": "."}[kind]
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        candidate = body + check
        total = 0
        for i, c in enumerate(reversed(candidate)):
            d = int(c) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return candidate
    raise AssertionError


def steuer_id(rng: random.Random) -> str:
    while True:
        digits = [rng.choice("123456789")] + [rng.choice(string.digits) for _ in range(9)]
        body = "".join(digits)
        if len(set(body)) in (8, 9):  # idnr: one digit twice or thrice, the rest once
            candidate = body + mod_11_10.calc_check_digit(body)
            if idnr.is_valid(candidate):
                return candidate


MONTHS = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "en": "January February March April May June July August September October November December".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}
DE_ORD = [
    "", "ersten", "zweiten", "dritten", "vierten", "fünften", "sechsten", "siebten", "achten", "neunten",
    "zehnten", "elften", "zwölften", "dreizehnten", "vierzehnten", "fünfzehnten", "sechzehnten",
    "siebzehnten", "achtzehnten", "neunzehnten", "zwanzigsten", "einundzwanzigsten", "zweiundzwanzigsten",
    "dreiundzwanzigsten", "vierundzwanzigsten", "fünfundzwanzigsten", "sechsundzwanzigsten",
    "siebenundzwanzigsten", "achtundzwanzigsten", "neunundzwanzigsten", "dreißigsten", "einunddreißigsten",
]  # fmt: skip
EN_ORD = [
    "", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
    "nineteenth", "twentieth", "twenty-first", "twenty-second", "twenty-third", "twenty-fourth", "twenty-fifth",
    "twenty-sixth", "twenty-seventh", "twenty-eighth", "twenty-ninth", "thirtieth", "thirty-first",
]  # fmt: skip


def date_text(rng: random.Random, language: str, locale: str, d: object) -> str:
    day, month, year = d.day, d.month, d.year  # type: ignore[attr-defined]
    m = MONTHS[language][month - 1]
    if language == "de":
        forms = [
            f"{day:02d}.{month:02d}.{year}", f"{day}.{month}.{year}", f"{day}. {m} {year}",
            f"{day}.{month:02d}.{year % 100:02d}", f"{DE_ORD[day]} {m} {year}", f"{DE_ORD[day]} {m} {de_year(year)}",
            f"{DE_ORD[day]} {DE_ORD[month][:-1]} {year}",
        ]  # fmt: skip
        if locale == "de_AT":
            forms.append(f"{day}. {'Jänner' if month == 1 else m} {year}")
    elif language == "en":
        sfx = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        us = locale == "en_US"
        forms = [
            f"{m} {day}, {year}" if us else f"{day} {m} {year}",
            f"{month:02d}/{day:02d}/{year}" if us else f"{day:02d}/{month:02d}/{year}",
            f"{m} {day}{sfx}, {year}" if us else f"{day}{sfx} of {m} {year}",
            f"the {EN_ORD[day]} of {m} {en_year(year)}",
            f"{m} {EN_ORD[day]}, {en_year(year)}",
            f"{m[:3]} {day} {year}",
        ]
    else:
        forms = [
            f"{day} de {m} de {year}", f"{day:02d}/{month:02d}/{year}", f"{day}-{month:02d}-{year}",
            f"{es_pair(day) if day != 1 else 'primero'} de {m} de {es_year(year)}",
            f"{day} de {m} del {year % 100:02d}",
        ]  # fmt: skip
    return rng.choice(forms)


# -- the sentences ------------------------------------------------------------------------
# Slots: {NAME} full name, {FIRST}, {LAST}, {PHONE}, {EMAIL}, {IBAN}, {CARD}, {DOB}, {STREET},
# {POSTCITY}, {ID}. A template may say "lower" to be rendered in lower case (speech-to-text).

DE = [
    "Grüß Gott, {LAST} {FIRST} am Apparat, ich hätte eine Frage zur letzten Abrechnung.",
    "{LAST}, guten Morgen, ich rufe wegen der Kündigung an.",
    "Ja hallo, hier ist nochmal {NAME}, wir hatten gestern schon telefoniert.",
    "{NAME} hier, ich warte immer noch auf die Gutschrift.",
    "Ich bin {NAME} und mein Router blinkt seit Tagen rot.",
    "Guten Tag, {NAME}, es geht um meinen Vertrag.",
    "Schönen guten Tag, Sie sprechen mit {NAME}.",
    "Servus, da ist der {FIRST} {LAST}, ich hab da ein Problem mit der Rechnung.",
    "Der Vertrag läuft auf meinen Mann, {NAME}.",
    "Können Sie das bitte an Frau {LAST} weitergeben?",
    "Mein Name, {NAME}, wird mit zwei L geschrieben, nein Moment, nur mit einem.",
    "Ja genau, {FIRST} {LAST}, so steht es auch auf der Rechnung.",
    "lower:hallo hier ist die {NAME} ich wollte fragen wegen der rechnung",
    "lower:ja grüß gott {NAME} am apparat",
    "Erreichbar bin ich unter {PHONE}, am besten nach fünf.",
    "Moment, ich les Ihnen die Nummer vor: {PHONE}.",
    "Rufen Sie mich doch auf dem Handy zurück, {PHONE}.",
    "Die Festnetznummer ist die {PHONE}, aber da bin ich selten.",
    "spoken_phone:Also meine Nummer ist {PHONE}, haben Sie das?",
    "spoken_phone:Handy, {PHONE}.",
    "Schicken Sie es bitte an {EMAIL}, das lese ich täglich.",
    "Meine Mailadresse hat sich geändert, die neue ist {EMAIL}.",
    "spoken_email:Die Mail ist {EMAIL}, alles klein.",
    "spoken_email:Schreiben Sie mir an {EMAIL}.",
    "Das Geld soll bitte auf {IBAN} zurück.",
    "Ich geb Ihnen mal die Bankverbindung durch, {IBAN}, lautet auf mich.",
    "Die Abbuchung ging von {IBAN} ab, das ist mein altes Konto.",
    "Zahlen würde ich gerne mit der Karte, {CARD}.",
    "Die Kreditkarte hat die Nummer {CARD}, gültig bis nächstes Jahr.",
    "Ich hab mit der {CARD} bezahlt, und das wurde zweimal belastet.",
    "Geboren bin ich am {DOB}, falls Sie das brauchen.",
    "Mein Geburtstag ist der {DOB}.",
    "Ich bin am {DOB} geboren, in Linz.",
    "prev:Zur Sicherheit noch Ihr Geburtsdatum?|Der {DOB}.",
    "prev:Und wann sind Sie geboren?|Am {DOB}.",
    "prev:Darf ich zur Verifizierung noch Ihr Geburtsdatum haben?|Ja, {DOB}.",
    "Wir sind umgezogen, jetzt {STREET}, {POSTCITY}.",
    "Die Lieferadresse ist {STREET} in {POSTCITY}.",
    "lower:ich wohne jetzt in der {STREET} in {POSTCITY}",
    "Bitte schicken Sie die Unterlagen nach {POSTCITY}, {STREET}.",
    "Meine Steuer-Identifikationsnummer ist {ID}.",
    "Für die Bescheinigung brauchen Sie die {ID}, oder?",
]
EN = [
    "Hi, it's {NAME}, I called yesterday about the refund.",
    "Hello, {NAME} speaking, I need to change my plan.",
    "Yeah hi, {FIRST} here, {FIRST} {LAST}, I've got a problem with my bill.",
    "Good morning, you're through to {NAME}.",
    "The account is in my wife's name, {NAME}.",
    "Could you put me through to Mr {LAST}, please?",
    "I spoke to {NAME} last week and nothing happened.",
    "It's {FIRST}, {FIRST} {LAST}, with two Ls I think.",
    "lower:hey this is {NAME} calling about my internet",
    "lower:yeah it's {NAME} again sorry",
    "You can get me on {PHONE} any time after six.",
    "Best number to reach me is {PHONE}.",
    "My mobile's {PHONE} if you need to call back.",
    "spoken_phone:The number is {PHONE}, got that?",
    "spoken_phone:Call me back on {PHONE}.",
    "Send the confirmation to {EMAIL}, please.",
    "My email changed, it's now {EMAIL}.",
    "spoken_email:It's {EMAIL}, all lower case.",
    "spoken_email:Email me at {EMAIL}.",
    "Please refund it to {IBAN}.",
    "The money went out of {IBAN}, that's my old account.",
    "I paid with my card, {CARD}.",
    "The long number on the card is {CARD}.",
    "Charge it to {CARD}, expiry next year.",
    "I was born {DOB}.",
    "My date of birth? It's {DOB}.",
    "Born on {DOB}, if that helps.",
    "prev:And can I take your date of birth for security?|Sure, {DOB}.",
    "prev:What's your date of birth, please?|It's {DOB}.",
    "prev:When were you born?|{DOB}.",
    "We've moved to {STREET}, {POSTCITY}.",
    "Please send it to {STREET}, {POSTCITY}.",
    "lower:the new address is {STREET} {POSTCITY}",
    "My social security number is {ID}.",
    "For the credit check you'll need my {ID}, right?",
]
ES = [
    "Hola, soy {NAME}, llamo por la factura.",
    "Buenas tardes, le habla {NAME}.",
    "Sí, buenos días, {NAME} al habla.",
    "Mire, me llamo {NAME} y tengo un problema con el router.",
    "El contrato está a nombre de mi marido, {NAME}.",
    "¿Me puede pasar con la señora {LAST}?",
    "Ayer hablé con {NAME} y no me solucionó nada.",
    "lower:hola buenas soy {NAME} otra vez",
    "lower:sí le llamo de parte de {NAME}",
    "Mi teléfono es el {PHONE}, por las tardes.",
    "Puede llamarme al {PHONE}.",
    "spoken_phone:Apunte, {PHONE}.",
    "spoken_phone:El móvil es {PHONE}, ¿lo tiene?",
    "Mándemelo a {EMAIL}, por favor.",
    "Mi correo es {EMAIL}.",
    "spoken_email:El correo es {EMAIL}.",
    "spoken_email:Escríbame a {EMAIL}, todo en minúsculas.",
    "Devuélvanme el dinero a la cuenta {IBAN}.",
    "El cargo salió de {IBAN}.",
    "Pagué con la tarjeta {CARD}.",
    "El número de la tarjeta es {CARD}.",
    "Nací el {DOB}.",
    "Mi fecha de nacimiento es el {DOB}.",
    "prev:¿Me confirma su fecha de nacimiento?|Sí, el {DOB}.",
    "prev:¿Y su fecha de nacimiento, por favor?|{DOB}.",
    "Ahora vivo en {STREET}, {POSTCITY}.",
    "La dirección de envío es {STREET}, {POSTCITY}.",
    "Mi DNI es el {ID}.",
    "Le doy el NIF, {ID}.",
]
NEGATIVES = {
    "de": [
        "Meine Bestellnummer ist 4711 0815 22, die Lieferung fehlt seit Montag.",
        "Die Rechnung vom 12.03.2024 über 89,90 Euro ist doppelt abgebucht.",
        "Ich hab am 3. Mai einen Termin beim Techniker, zwischen 8 und 12 Uhr.",
        "Ich hab Blumen bestellt und die waren welk.",
        "Ich bin seit zehn Jahren bei Vodafone und jetzt so etwas.",
        "Bei der Telekom war das nie ein Problem.",
        "Der Router ist ein Fritzbox 7590, Seriennummer steht hinten drauf.",
        "Ich habe zwei Kinder und drei Hunde, das passt schon.",
        "Die Vertragsnummer lautet 2023-118-4471, glaube ich.",
        "Mein Tarif kostet 39,99 im Monat und seit Mai 44,99.",
        "Ich bin Rentner und brauche das Internet nicht so oft.",
        "Hier ist es halt sehr laut, Moment bitte.",
        "Grüß Gott, ich hätte eine Frage zur Abrechnung.",
        "Guten Morgen, ich rufe wegen der Kündigung an.",
        "Das Paket kam am 24.12. an, viel zu spät.",
        "Die Sendungsverfolgung zeigt 00340434161094022115 an.",
        "Meine Kundennummer ist 100234567.",
        "Ich bin sauer, ehrlich gesagt, das geht so nicht.",
        "Die Summe von 1.234,56 Euro stimmt einfach nicht.",
        "Ich zahle jeden Monat 29,95 und bekomme nur 16 MBit.",
        "Am Freitag, den 14.06., bin ich nicht zu Hause.",
        "Ich bin Kunde seit 2009.",
        "Hallo, ich wollte nur kurz den Stand abfragen.",
        "Die Störung besteht seit dem 2. Februar.",
        "Mein Mann meinte, das wäre längst erledigt.",
        "Der Techniker war im Sommer schon mal da, aber es geht immer noch nicht.",
        "Das Angebot gilt bis Ende August.",
        "Frank und frei gesagt, ich bin enttäuscht.",
        "Ich hab bei Amazon bestellt und die Rechnung kam von Ihnen.",
        "Die Rose auf dem Paket war beschädigt.",
    ],
    "en": [
        "My order number is 1128 4471 09 and it never arrived.",
        "The bill from 12/03/2024 was for 89.90 pounds, twice.",
        "I've got an engineer booked for May 3rd between 8 and 12.",
        "I've been with Vodafone for ten years and now this.",
        "The router is a Hub 6, the serial is on the back.",
        "I've got two kids and three dogs, it's fine.",
        "The contract number is 2023-118-4471, I think.",
        "I pay 39.99 a month and since June it's 44.99.",
        "Hi, I just wanted to check on the status.",
        "Good morning, I'm calling about cancelling.",
        "The parcel arrived on December 24, far too late.",
        "My customer number is 100234567.",
        "I'm really upset, to be honest.",
        "The total of 1,234.56 dollars is just wrong.",
        "I will be out on Friday the 14th.",
        "The outage started on February 2.",
        "My husband said it was sorted.",
        "Will you be able to fix it by April?",
        "Mark my words, I'm cancelling.",
        "The grace period ends in June.",
        "I ordered from Amazon and got your invoice.",
        "Can I speak to someone in billing?",
        "It's been down since the 5th of March.",
        "I'm a pensioner, I don't use it much.",
        "The ticket reference is 55123908.",
    ],
    "es": [
        "Mi número de pedido es 4471 0815 22 y no ha llegado.",
        "La factura del 12/03/2024 de 89,90 euros está duplicada.",
        "Tengo cita con el técnico el 3 de mayo entre las 8 y las 12.",
        "Llevo diez años con Movistar y ahora esto.",
        "La factura de la luz ha subido mucho.",
        "Tengo dos hijos y tres perros.",
        "El número de contrato es 2023-118-4471, creo.",
        "Pago 39,99 al mes y desde junio 44,99.",
        "Hola, solo quería saber cómo va lo mío.",
        "Buenos días, llamo para dar de baja la línea.",
        "El paquete llegó el 24 de diciembre, tardísimo.",
        "Mi número de cliente es 100234567.",
        "Estoy muy enfadado, la verdad.",
        "El total de 1.234,56 euros no cuadra.",
        "Tengo dolores de cabeza con este tema.",
        "Con la esperanza de que lo arreglen pronto.",
        "Me cobraron dos veces en marzo.",
        "El Mercedes de mi vecino bloquea la entrada, por eso no vino el técnico.",
        "La avería empezó el 2 de febrero.",
        "Soy cliente desde 2009.",
    ],
}


def street(fake: Faker, rng: random.Random, lower: bool) -> str:
    value = fake.street_address().replace("\n", " ").strip()
    return value.lower() if lower else value


def postcity(fake: Faker, locale: str) -> str:
    if locale == "en_GB":
        return f"{fake.city()} {fake.postcode()}"
    if locale == "en_US":
        return f"{fake.city()}, {fake.state_abbr()} {fake.postcode()}"
    return f"{fake.postcode()} {fake.city()}"


def birthdate(fake: Faker, minimum_age: int, maximum_age: int) -> date:
    """A birth date for someone aged ``minimum_age``..``maximum_age`` on ``REFERENCE_DAY``."""
    youngest = REFERENCE_DAY.replace(year=REFERENCE_DAY.year - minimum_age)
    oldest = REFERENCE_DAY.replace(year=REFERENCE_DAY.year - maximum_age - 1)
    return fake.date_between_dates(oldest, youngest)


def national_id(fake: Faker, rng: random.Random, locale: str) -> tuple[str, str]:
    if locale == "de_DE":
        value = steuer_id(rng)
        kind = rng.choice(["compact", "threes", "pairs"])
        if kind == "threes":
            value = f"{value[:2]} {value[2:5]} {value[5:8]} {value[8:]}"
        elif kind == "pairs":
            value = " ".join(value[i : i + 3] for i in range(0, 11, 3))
        return value, "TAX_ID"
    if locale == "es_ES":
        return fake.nif(), "NATIONAL_ID"
    if locale == "de_CH":
        return fake.ssn(), "NATIONAL_ID"
    if locale == "de_AT":
        value = fake.ssn(birthdate=birthdate(fake, 18, 90))
        return (value if rng.random() < 0.5 else f"{value[:4]} {value[4:]}"), "NATIONAL_ID"
    if locale == "en_GB":
        return fake.ssn(), "NATIONAL_ID"
    return fake.ssn(), "NATIONAL_ID"


def _phone(fake: Faker, rng: random.Random, _locale: str, language: str, mode: str) -> tuple[str, str]:
    phone = fake.phone_number()
    if mode == "spoken_phone":
        number = digits_of(phone)
        if not number.startswith("0") and language != "en":
            number = "0" + number[-10:]
        return spoken_digits(rng, language, number), "PHONE"
    return phone, "PHONE"


def _email(fake: Faker, rng: random.Random, _locale: str, language: str, mode: str) -> tuple[str, str]:
    email = rng.choice([fake.email, fake.free_email, fake.company_email])()
    if mode == "spoken_email":
        return spelled_email(rng, language, email), "EMAIL"
    return (email.replace("@", ZW + "@") if rng.random() < 0.15 else email), "EMAIL"


def _card(fake: Faker, rng: random.Random, _locale: str, _language: str, _mode: str) -> tuple[str, str]:
    kind = rng.choice(["faker", "faker", "maestro12", "unknown_issuer"])
    if kind == "maestro12":
        number = luhn_complete(rng.choice(["5018", "5020", "6304", "6759"]), 12, rng)
    elif kind == "unknown_issuer":
        number = luhn_complete(rng.choice(["1", "7", "8", "9"]), rng.choice([15, 16]), rng)
    else:
        number = fake.credit_card_number()
    return card_variant(rng, number), "CREDIT_CARD"


def _postcity(fake: Faker, _rng: random.Random, locale: str, _language: str, mode: str) -> tuple[str, str]:
    value = postcity(fake, locale)
    return (value.lower() if mode == "lower" else value), "ADDRESS"


#: slot → its value and label (names are rendered together, not here)
_SLOTS: dict[str, Callable[[Faker, random.Random, str, str, str], tuple[str, str]]] = {
    "PHONE": _phone,
    "EMAIL": _email,
    "IBAN": lambda fake, rng, _locale, _language, _mode: (iban_variant(rng, fake.iban()), "IBAN"),
    "CARD": _card,
    "DOB": lambda fake, rng, locale, language, _mode: (
        date_text(rng, language, locale, birthdate(fake, 18, 90)),
        "DATE_OF_BIRTH",
    ),
    "STREET": lambda fake, rng, _locale, _language, mode: (street(fake, rng, mode == "lower"), "ADDRESS"),
    "POSTCITY": _postcity,
    "ID": lambda fake, rng, locale, _language, _mode: national_id(fake, rng, locale),
}


def render_value(slot: str, fake: Faker, rng: random.Random, locale: str, language: str, mode: str) -> tuple[str, str]:
    render = _SLOTS.get(slot)
    if render is None:
        raise AssertionError("names are rendered together" if slot in ("NAME", "FIRST", "LAST") else slot)
    return render(fake, rng, locale, language, mode)


def strip_title(name: str) -> str:
    return " ".join(
        w
        for w in name.split()
        if w.rstrip(".").lower()
        not in {
            "mr",
            "mrs",
            "ms",
            "miss",
            "dr",
            "prof",
            "mba",
            "b.sc",
            "m.sc",
            "bsc",
            "msc",
            "md",
            "dds",
            "phd",
            "jr",
            "sr",
            "ii",
            "iii",
            "iv",
            "dvm",
            "b.a",
            "m.a",
            "dipl.-ing",
            "ing",
            "univ.prof",
            "mag",
            "di",
            "dipl",
            "b.eng",
            "ba",
            "ma",
            "sra",
            "dña",
            "d",
        }
    )


def example(fake: Faker, rng: random.Random, locale: str, language: str, template: str) -> dict[str, object]:
    mode, _, body = (
        template.partition(":")
        if re.match(r"^(lower|prev|spoken_phone|spoken_email):", template)
        else ("", "", template)
    )
    previous = ""
    if mode == "prev":
        previous, body = body.split("|", 1)
    first, last = fake.first_name(), fake.last_name()
    full = strip_title(fake.name())
    names = {"NAME": full, "FIRST": first, "LAST": last}
    if mode == "lower":
        names = {k: v.lower() for k, v in names.items()}
    text, spans, cursor = "", [], 0

    def literal(part: str) -> str:
        return part.lower() if mode == "lower" else part

    for match in re.finditer(r"\{([A-Z]+)\}", body):
        text += literal(body[cursor : match.start()])
        slot = match.group(1)
        if slot in names:
            value, label = names[slot], "NAME"
        else:
            value, label = render_value(slot, fake, rng, locale, language, mode)
        start = len(text)
        text += value
        spans.append([start, len(text), label])
        cursor = match.end()
    text += literal(body[cursor:])
    # "{FIRST} {LAST}" placed side by side is one name
    merged: list[list[object]] = []
    for span in spans:
        if merged and merged[-1][2] == span[2] == "NAME" and text[merged[-1][1] : span[0]] == " ":
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    return {"locale": locale, "language": language, "previous": previous, "text": text, "spans": merged}


def generate() -> list[dict[str, object]]:
    rng = random.Random(SEED)  # noqa: S311  # nosec B311 - reproducible test data, not secrets
    Faker.seed(SEED)
    out: list[dict[str, object]] = []
    templates: dict[str, list[str]] = {"de": DE, "en": EN, "es": ES}
    for locale, language in LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(SEED + len(out))
        pool = templates[language]
        negatives = NEGATIVES[language]
        for i in range(PER_LOCALE):
            if i % 5 == 4:
                text = negatives[(i // 5 + rng.randrange(len(negatives))) % len(negatives)]
                if rng.random() < 0.2:
                    text = text.lower()
                item = {"locale": locale, "language": language, "previous": "", "text": text, "spans": []}
            else:
                item = example(fake, rng, locale, language, pool[rng.randrange(len(pool))])
            item = {"id": f"{locale}-{i:03d}", **item}
            out.append(item)
    return out


def write(path: Path = OUT, make: Callable[[], list[dict[str, object]]] = generate) -> int:
    rows = make()
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    sys.stdout.write(f"{write()} examples written to {OUT.relative_to(ROOT)}\n")
