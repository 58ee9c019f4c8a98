"""Converters: what a trained BatchNorm keeps and loses on the way from one framework to another.

One class per conversion path behind one interface (``base.Converter``), registered in
``registry.py``; a converter's packages are imported only when a case that needs it runs.
"""
