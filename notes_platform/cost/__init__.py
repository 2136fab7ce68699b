"""Monthly cost of a stack from its recorded plan: ``model.estimate`` (lines, total, assumptions,
the prices' source and date), the committed price tables (``prices/``), the per-stack usage a
plan cannot know (``usage/``) and the capacity question (``capacity``). Offline: nothing here
reaches AWS."""
