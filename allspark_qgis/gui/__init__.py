"""The plugin's widgets: the prompt dock and the settings dialog."""
