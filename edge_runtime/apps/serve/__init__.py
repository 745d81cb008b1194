"""``fashion-serve``: the device's web page and JSON API (aiohttp, the ``serve`` extra).

``cli`` parses, ``server`` runs the loop, ``app`` holds the routes, ``stream`` the camera's
thread and the hub that hands its frames to clients, ``uploads`` the upload workers,
``security`` the token, Host check, limits and sniffing; ``page.html`` is the page.
"""
