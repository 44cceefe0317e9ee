"""Customs online public-service portal (dịch vụ công trực tuyến Hải quan)."""
