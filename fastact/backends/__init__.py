"""fastact/backends"""
