"""Built-in plugins registered by :func:`josev_hal.plugins.get_plugin_manager` (see
``josev_hal.plugins.BUILTIN_PLUGINS``): the default vendor policies. Products override them by
implementing the same hooks in their own plugin."""
