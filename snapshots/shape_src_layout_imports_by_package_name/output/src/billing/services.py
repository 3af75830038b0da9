from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Invoice


async def issue_invoice(session: AsyncSession, number: str) -> str:
    invoice = Invoice(number=number)
    session.add(invoice)
    await session.commit()
    await session.refresh(invoice, ["number", "total"])
    return f"Invoice {invoice.number} issued for {invoice.total}"
