"""The applications built on the API: ``fashion-classify`` (files and live streams) and
``fashion-evaluate`` (labelled photos), with their batch loop, live loop and writers."""
