#!/usr/bin/env python
"""Django's command-line utility for administrative tasks (same as `djangoapp-manage`)."""

from djangoapp.manage import main

if __name__ == "__main__":
    main()
