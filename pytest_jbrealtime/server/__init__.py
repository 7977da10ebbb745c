"""The live server: Starlette routes, viewer connections, auth, and its process."""
