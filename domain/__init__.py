"""The product's rules and use cases, below the chat adapter (commands/) and above storage/.

Pure rules know neither chat nor database: the consent gate (``gate``), placement
(``placement``), pseudonyms, series (``series``), dates (``dates``, ``when``,
``calendar``), polls, minutes, the organisation and its roles (``org``), and the
refusals a user can get (``errors``). Use cases (``casework``, ``planning``) take a
:class:`domain.work.Work` — unit of work, actor, now, calendar — and return values;
commands and the timed runner call the same ones.
"""
