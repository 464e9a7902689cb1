"""How the admin and the pages write dates and times: ISO-like, to the second, with the zone (settings.TIME_ZONE).

Django's English defaults ("Dec. 2, 2026, 7:15 a.m.") drop the seconds and the zone, which an operator comparing
an admin page with the API's ISO 8601 instants or a log line needs. Formats not named here keep Django's.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
