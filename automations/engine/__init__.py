"""Framework-free document engine: file type detection, validation and text extraction."""
