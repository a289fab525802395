"""Tests of headwater.serializers."""
