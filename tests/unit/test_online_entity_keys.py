"""The direct online read builds entity key values exactly as Feast does."""

from __future__ import annotations

import pytest
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from runway.serving.online import _entity_values

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value_type", "values"),
    [(ValueType.STRING, ["S001", "", "é"]), (ValueType.INT64, [1, -5, 2**62]), (ValueType.INT32, [3, 4]), (ValueType.INT64, [True])],
)
def test_entity_values_match_feasts_conversion(value_type, values):
    assert _entity_values(values, value_type, python_values_to_proto_values) == python_values_to_proto_values(values, value_type)
