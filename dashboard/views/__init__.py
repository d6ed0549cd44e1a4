"""The dashboard's pages, one Streamlit script each (run through ``st.navigation`` in ``app.py``).

Not named ``pages/``: Streamlit treats a ``pages/`` folder next to the main script as an old-style
multipage app, which makes reruns skip ``app.py`` (and its sidebar) in ``AppTest``.
"""
