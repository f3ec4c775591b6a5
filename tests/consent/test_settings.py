"""Settings: development keys and the development master key stay in development."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.consent.settings import ConsentSettings
from shared.digests import sha256_hex


def test_development_keys_are_refused_outside_development():
    keys = f'[{{"name": "dev", "role": "system", "system_id": "website", "key_sha256": "{sha256_hex("dev-system")}"}}]'
    with pytest.raises(ValidationError, match="development API keys"):
        ConsentSettings(DONGUI_ENVIRONMENT="production", DONGUI_API_KEYS=keys, master_key="A" * 43 + "=",
                        DONGUI_DELEGATION_SECRET="B" * 43 + "=")


def test_a_configured_system_key_names_its_system():
    keys = f'[{{"name": "emr", "role": "system", "key_sha256": "{sha256_hex("a key")}"}}]'
    with pytest.raises(ValidationError, match="a key of role system names its system_id"):
        ConsentSettings(DONGUI_API_KEYS=keys)


def test_development_master_key_is_refused_outside_development():
    with pytest.raises(ValidationError, match="development master key"):
        ConsentSettings(DONGUI_ENVIRONMENT="production")


def test_the_development_shared_secret_is_refused_outside_development():
    with pytest.raises(ValidationError, match="development DONGUI_DELEGATION_SECRET"):
        ConsentSettings(DONGUI_ENVIRONMENT="production", master_key="A" * 43 + "=")


def test_development_keys_work_only_in_development():
    production = ConsentSettings(DONGUI_ENVIRONMENT="production", master_key="A" * 43 + "=",
                                 DONGUI_DELEGATION_SECRET="B" * 43 + "=")
    development = ConsentSettings(DONGUI_ENVIRONMENT="development")
    assert production.effective_api_keys() == []
    assert {k.name for k in development.effective_api_keys()} == {"dev-system", "dev-staff", "dev-manager", "dev-dsr",
                                                                       "dev-notifier"}


def test_the_service_refuses_to_start_with_development_keys_in_production():
    keys = f'[{{"name": "dev", "role": "staff", "key_sha256": "{sha256_hex("dev-staff")}"}}]'
    env = {**os.environ, "DONGUI_ENVIRONMENT": "production", "DONGUI_API_KEYS": keys,
           "CONSENT_MASTER_KEY": "A" * 43 + "=", "DONGUI_DELEGATION_SECRET": "B" * 43 + "="}
    result = subprocess.run([sys.executable, "-m", "services.consent"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "development API keys" in result.stderr
