"""Offline text analytics for reviews and patient comments: language, sentiment and aspects.

Main entry points:

* ``app.nlp.sentiment``: ``score_text``, ``score_texts``, ``SentimentModel``,
  ``default_model``, ``label_from_rating``, ``rating_contradicts_text``;
* ``app.nlp.topics``: ``tag_aspects``, ``ASPECTS``;
* ``app.nlp.lang``: ``detect_language``;
* ``app.nlp.cli``: the ``flask sentiment`` command group (``sentiment_cli``).
"""
