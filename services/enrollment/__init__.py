"""The enrollment service: units, group applications, rosters from Excel, enrolments."""
