"""fastact/cpu"""
