"""The recorded graph: the program run under mocks (``mocks``) and a stack's plan (``plan``)."""
