"""The web dashboard (issue 7): server-rendered pages over the same store functions as the API."""
