"""Configuration files, validated by pydantic models; errors name the file, the field and the value."""

from services.runtime.config.loader import ConfigError, load_yaml_model

__all__ = ["ConfigError", "load_yaml_model"]
