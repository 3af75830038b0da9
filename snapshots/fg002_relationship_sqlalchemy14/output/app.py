from sqlalchemy import select, Column, ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, declarative_base, relationship

Base = declarative_base()


class Department(Base):
    __tablename__ = "departments"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    employees = relationship("Employee", back_populates="department")


class Employee(Base):
    __tablename__ = "employees"

    id = Column(Integer, primary_key=True)
    department_id = Column(Integer, ForeignKey("departments.id"), nullable=False)
    name = Column(String(100), nullable=False)
    department = relationship("Department", back_populates="employees")


async def create_department(session: AsyncSession, name: str) -> dict:
    department = Department(name=name)
    session.add(department)
    await session.flush()
    await session.execute(select(Department).where(Department.id == department.id).options(selectinload(Department.employees)))
    return {"id": department.id, "name": department.name, "headcount": len(department.employees)}
